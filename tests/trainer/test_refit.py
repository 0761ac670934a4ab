"""trainer/task.py's refit with the validation split: after the validation choices, the
prototypes and the cRT classifier are fitted again on the train and validation images, and
the choices fitted on validation scores (temperature, abstain threshold) stay as they were."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import stages, task
from trainer.hparams import TrainerConfig

TRAIN_COUNTS = [10, 10, 1]  # species 2 is rare
VALID_PER_SPECIES = 5


def images(counts, seed):
    """2 x 2 x 3 uint8 images whose pixels are bright in their species' block of four values,
    with noise; and their label ids."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c, np.int64) for c, n in enumerate(counts)])
    flat = rng.uniform(0, 60, (len(labels), 12))
    for i, c in enumerate(labels):
        flat[i, 4 * c:4 * c + 4] += 180
    return flat.reshape(-1, 2, 2, 3).astype(np.uint8), labels


def dataset(split):
    return tf.data.Dataset.from_tensor_slices(split)


def uniform_classifier():
    """Flattened pixels as the embedding, a classifier that says nothing (all-zero weights):
    validation can only prefer the prototype scores."""
    model = tf.keras.Sequential([tf.keras.Input((2, 2, 3)), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(3, activation="softmax",
                                                       kernel_initializer="zeros")])
    return model


def reference_prototypes(pixels, labels):
    """NumPy: each species' mean of L2-normalised embeddings (pixels / 255, flattened),
    normalised."""
    flat = pixels.reshape(len(pixels), -1).astype(np.float64) / 255.0
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    means = np.stack([flat[labels == c].mean(axis=0) for c in range(3)])
    return means / np.linalg.norm(means, axis=1, keepdims=True)


@pytest.mark.parametrize("refit", [False, True])
def test_prototypes_are_refit_on_train_and_validation(refit):
    train, valid = images(TRAIN_COUNTS, 0), images([VALID_PER_SPECIES] * 3, 1)
    config = TrainerConfig(prototypes=True, fit_posthoc=True, calibrate=True,
                           classifier_retrain_epochs=0, refit_with_validation=refit)
    report = task.choose_on_validation(uniform_classifier(), config, TRAIN_COUNTS,
                                       dataset(train), dataset(valid), valid[1])
    assert report["prototype_weight"] > 0
    both = (np.concatenate([train[0], valid[0]]), np.concatenate([train[1], valid[1]]))
    expected = reference_prototypes(*(both if refit else train))
    np.testing.assert_allclose(report["_prototypes"], expected, rtol=1e-5, atol=1e-6)
    # The rare species' prototype moved: 1 train image against 6 images.
    other = reference_prototypes(*(train if refit else both))
    assert np.abs(report["_prototypes"][2] - other[2]).max() > 1e-3
    if refit:
        assert report["refit_with_validation"] == {
            "images": 36, "per_species_minimum": 6, "refit": ["prototypes"]}
    else:
        assert report["refit_with_validation"] is None


def test_the_validation_fits_stay_as_before_the_refit():
    train, valid = images(TRAIN_COUNTS, 0), images([VALID_PER_SPECIES] * 3, 1)
    reports = [task.choose_on_validation(
        uniform_classifier(),
        TrainerConfig(prototypes=True, fit_posthoc=True, calibrate=True,
                      classifier_retrain_epochs=0, refit_with_validation=refit),
        TRAIN_COUNTS, dataset(train), dataset(valid), valid[1]) for refit in (False, True)]
    for key in ("posthoc_tau", "prototype_weight", "validation_f1", "temperature",
                "abstain_threshold"):
        assert reports[0][key] == reports[1][key], key


def test_the_re_trained_classifier_learns_a_species_seen_only_in_validation():
    # Species 2 has no train image: cRT on train alone cannot learn it; on train and
    # validation it does.
    train, valid = images([10, 10, 0], 0), images([VALID_PER_SPECIES] * 3, 1)
    config = TrainerConfig(classifier_retrain_epochs=40, batch_size=4, seed=5)
    flat = lambda pixels: pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0  # noqa
    predicted = {}
    for refit in (False, True):
        model = uniform_classifier()
        embeddings, labels = flat(train[0]), train[1]
        if refit:
            embeddings = np.concatenate([embeddings, flat(valid[0])])
            labels = np.concatenate([labels, valid[1]])
            done = task.refit_with_validation(model, config, True, False, embeddings, labels)
            assert done == {"images": 35, "per_species_minimum": 5,
                            "refit": ["classifier (cRT)"]}
        else:
            stages.retrain_classifier(model, embeddings, labels, config.classifier_retrain_epochs,
                                      config.batch_size, config.seed)
        predicted[refit] = stages.classify_embeddings(model, flat(valid[0])).argmax(axis=1)
    species_2 = valid[1] == 2
    assert not (predicted[False][species_2] == 2).any()
    assert (predicted[True][species_2] == 2).all()


def test_refit_is_opt_in():
    # Off in every recipe: on the demo's dev copy it traded overall accuracy and macro-F1 for
    # rare-species recall (README, "The long-tail recipe").
    from trainer.hparams import RECIPES
    assert TrainerConfig().refit_with_validation is False
    assert not any(values.get("refit_with_validation") for values in RECIPES.values())
