"""trainer/task.py's choose_on_validation: a fitted post-hoc tau replaces the plain model only
when the validation split is sure of its gain (--choice-confidence).

The model is linear and set by hand: its embedding is the pixels, and its classifier adds the
train split's log prior to three times the embedding, so that images of the two rare species
with weak evidence are given to the common one, which a post-hoc tau undoes."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import posthoc, task
from trainer.hparams import TrainerConfig

COUNTS = [90, 9, 1]


def biased_model():
    inputs = tf.keras.Input((1, 1, 3))
    embedding = tf.keras.layers.Flatten()(inputs)
    classifier = tf.keras.layers.Dense(3, activation="softmax")
    model = tf.keras.Model(inputs, classifier(embedding))
    classifier.set_weights([3.0 * np.eye(3, dtype=np.float32),
                            posthoc.log_prior(COUNTS).astype(np.float32)])
    return model


def examples(labels, strength):
    """One pixel an image: `strength` (0-255) in the channel of its species; 255 is strong
    evidence (right without a tau for species 0 and 1), 150 weak (right only for species 0)."""
    pixels = (np.eye(3)[labels] * np.asarray(strength)[:, None]).astype(np.uint8)
    return tf.data.Dataset.from_tensor_slices(
        (pixels.reshape(-1, 1, 1, 3), np.asarray(labels, np.int64)))


def choose(valid_labels, strength, confidence):
    config = TrainerConfig(fit_posthoc=True, choice_confidence=confidence, seed=1)
    train_labels = np.repeat([0, 1, 2], COUNTS)
    return task.choose_on_validation(
        biased_model(), config, COUNTS, examples(train_labels, [255] * len(train_labels)),
        examples(valid_labels, strength), np.asarray(valid_labels))


def test_a_gain_on_every_rare_image_replaces_the_plain_model():
    labels = np.repeat([0, 1, 2], 10)
    report = choose(labels, [150] * 30, confidence=0.9)
    # Plain: every image of species 1 and 2 is given to species 0.
    assert report["plain"]["validation_f1"] == pytest.approx(
        posthoc.macro_f1(labels, np.zeros(30, int), 3))
    assert report["best_candidate_win_rate"] == 1.0
    assert report["posthoc_tau"] > 0 and report["validation_f1"] == pytest.approx(1.0)


@pytest.mark.parametrize("confidence, tau_kept", [(0.0, True), (0.9, False)])
def test_a_gain_on_one_image_is_kept_only_without_the_confidence_rule(confidence, tau_kept):
    # 40 images of species 0; of species 1, one with strong evidence (right without tau) and
    # one with weak evidence, which only a tau gets right.
    labels = [0] * 40 + [1, 1]
    report = choose(labels, [255] * 41 + [150], confidence)
    assert 0.4 < report["best_candidate_win_rate"] < 0.8  # about 1 - (41/42)^42: drawn or not
    assert report["candidates"]["trained"]["tau"] != 0.0
    assert (report["posthoc_tau"] != 0.0) == tau_kept
    expected_f1 = (report["candidates"]["trained"]["validation_f1"] if tau_kept
                   else report["plain"]["validation_f1"])
    assert report["validation_f1"] == pytest.approx(expected_f1)
    assert report["classifier"] == "trained"
