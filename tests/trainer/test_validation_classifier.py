"""--validation-classifier (trainer/task.py's choose_on_validation): the cRT classifier kept is
re-trained on the train and validation images, and the validation scores that choose tau,
the prototype weight and the classifier come from classifiers re-trained without the images
they score (stages.validation_folds)."""
import numpy as np
import pytest

from tests.support.tiny_classifier import dataset, flat, images, silent_model
from trainer import posthoc, stages, task
from trainer.hparams import RECIPES, TrainerConfig

TRAIN_COUNTS = [12, 12, 2]  # species 2 is rare
VALID_PER_SPECIES = 6


CONFIG = TrainerConfig(classifier_retrain_epochs=30, batch_size=4, seed=7,
                       validation_classifier=True)


def test_validation_folds_split_each_species_evenly_once_and_are_seeded():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 1 + [3] * 1 + [4] * 1)
    folds = stages.validation_folds(labels, 3, seed=1)
    assert np.array_equal(np.sum(folds, axis=0), np.ones(len(labels)))  # each image once
    for c in range(5):
        sizes = [int(np.sum(fold & (labels == c))) for fold in folds]
        assert max(sizes) - min(sizes) <= 1, (c, sizes)
    # Species of one image spread over the folds rather than all landing in one.
    homes = [next(k for k, fold in enumerate(folds) if fold[labels == c].any())
             for c in (2, 3, 4)]
    assert sorted(homes) == [0, 1, 2]
    again = stages.validation_folds(labels, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    other = stages.validation_folds(labels, 3, seed=2)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other))


def test_the_classifier_kept_is_re_trained_on_train_and_validation():
    train, valid = images(TRAIN_COUNTS, 0), images([VALID_PER_SPECIES] * 3, 1)
    model = silent_model()
    report = task.choose_on_validation(model, CONFIG, TRAIN_COUNTS, dataset(train),
                                       dataset(valid), valid[1])
    assert report["classifier"].startswith("re-trained on class-balanced batches of the train "
                                           "and validation images")
    reference = silent_model()
    stages.retrain_classifier(reference, np.concatenate([flat(train[0]), flat(valid[0])]),
                              np.concatenate([train[1], valid[1]]),
                              CONFIG.classifier_retrain_epochs, CONFIG.batch_size, CONFIG.seed)
    for kept, expected in zip(stages.classifier_weights(model),
                              stages.classifier_weights(reference)):
        np.testing.assert_allclose(kept, expected, rtol=1e-5, atol=1e-6)


def test_each_validation_image_is_scored_by_a_classifier_trained_without_it():
    # A faint signal under noise: a classifier answers the images it was trained on otherwise
    # than new ones, so that in-fold and out-of-fold scores differ.
    train, valid = images(TRAIN_COUNTS, 0, signal=60), images([VALID_PER_SPECIES] * 3, 1, 60)
    report = task.choose_on_validation(silent_model(), CONFIG, TRAIN_COUNTS, dataset(train),
                                       dataset(valid), valid[1])
    name = next(n for n in report["candidates"] if n != "trained")
    f1 = report["candidates"][name]["validation_f1"]

    def validation_f1(fit_on_fold):
        model, predicted = silent_model(), np.zeros(len(valid[1]), int)
        for fold in stages.validation_folds(valid[1], task.VALIDATION_FOLDS, CONFIG.seed):
            kept = fold if fit_on_fold else ~fold
            stages.retrain_classifier(
                model, np.concatenate([flat(train[0]), flat(valid[0])[kept]]),
                np.concatenate([train[1], valid[1][kept]]), CONFIG.classifier_retrain_epochs,
                CONFIG.batch_size, CONFIG.seed)
            predicted[fold] = stages.classify_embeddings(model, flat(valid[0])[fold]).argmax(1)
        return posthoc.macro_f1(valid[1], predicted, 3)
    out_of_fold, in_fold = validation_f1(False), validation_f1(True)
    assert in_fold != pytest.approx(out_of_fold)  # the data tell the two apart
    assert f1 == pytest.approx(out_of_fold)


def test_without_it_the_classifier_is_re_trained_on_train_alone():
    train, valid = images(TRAIN_COUNTS, 0), images([VALID_PER_SPECIES] * 3, 1)
    model = silent_model()
    config = TrainerConfig(classifier_retrain_epochs=30, batch_size=4, seed=7)
    report = task.choose_on_validation(model, config, TRAIN_COUNTS, dataset(train),
                                       dataset(valid), valid[1])
    assert report["classifier"] == "re-trained on class-balanced batches (cRT)"
    reference = silent_model()
    stages.retrain_classifier(reference, flat(train[0]), train[1],
                              config.classifier_retrain_epochs, config.batch_size, config.seed)
    np.testing.assert_allclose(stages.classifier_weights(model)[0],
                               stages.classifier_weights(reference)[0], rtol=1e-5, atol=1e-6)


def test_the_longtail_recipe_uses_it_and_the_paper_does_not():
    assert RECIPES["longtail"]["validation_classifier"] is True
    assert TrainerConfig().validation_classifier is False
