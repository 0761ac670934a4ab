"""trainer/mirror_check.py: --augmentation auto's test of whether a mirror image keeps its class."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import data, mirror_check, task
from trainer.hparams import RECIPES, TrainerConfig

SIZE = 16


def patterns(num_classes: int, per_class: int, seed: int = 0, mirror_share: float = 0.0):
    """Each class a fixed random pattern of blocks (asymmetric: its mirror image matches no
    class), drawn with noise and shifted by up to a pixel; `mirror_share` of the images mirrored,
    which makes the mirror image of every class that class again."""
    rng = np.random.default_rng(seed)
    blocks = (rng.random((num_classes, SIZE // 4, SIZE // 4)) < 0.4).astype(np.float32)
    patterns = np.kron(blocks, np.ones((4, 4), np.float32))
    images, labels = [], []
    for c in range(num_classes):
        for _ in range(per_class):
            image = np.roll(patterns[c], rng.integers(-1, 2, size=2), axis=(0, 1))
            image = image + rng.normal(0, 0.3, image.shape)
            if rng.random() < mirror_share:
                image = image[:, ::-1]
            images.append(np.repeat(image[:, :, None], 3, axis=2))
            labels.append(c)
    return np.array(images, np.float32), np.array(labels)


def brute_force_loo(features, labels, queries, num_classes):
    """Query i against every class mean, its own class's without features[i]."""
    chosen = []
    for i, query in enumerate(queries):
        best, best_distance = None, np.inf
        for c in range(num_classes):
            members = [j for j in np.flatnonzero(labels == c) if j != i]
            if not members:
                continue
            distance = ((query - features[members].mean(axis=0)) ** 2).sum()
            if distance < best_distance:
                best, best_distance = c, distance
        chosen.append(best)
    return np.array(chosen)


def test_leave_one_out_nearest_mean_matches_a_brute_force_reference():
    rng = np.random.default_rng(3)
    # Class 2 has one image: its mean without that image is empty, never chosen for it;
    # class 4 has none.
    labels = np.array([0] * 6 + [1] * 4 + [2] + [3] * 5)
    features = rng.normal(size=(len(labels), 7)) + labels[:, None] * 0.4
    queries = features + rng.normal(0, 0.8, size=features.shape)
    for q in (features, queries):
        np.testing.assert_array_equal(mirror_check.loo_nearest_mean(features, labels, q, 5),
                                      brute_force_loo(features, labels, q, 5))


def test_classes_whose_mirror_image_is_no_class_lose_the_flip():
    images, labels = patterns(6, 20)
    result = mirror_check.check(images, labels, 6)
    assert result.accuracy > 0.9 and result.mirrored_accuracy < 0.5
    assert result.z >= mirror_check.Z_MIN and not result.mirror_keeps_class
    assert result.augmentation == "crop"


def test_the_same_classes_seen_either_way_round_keep_the_flip():
    images, labels = patterns(6, 20, mirror_share=0.5)
    result = mirror_check.check(images, labels, 6)
    assert result.accuracy > 0.5  # the pixels tell classes apart, as they are and mirrored
    assert abs(result.accuracy - result.mirrored_accuracy) < 0.1
    assert result.mirror_keeps_class and result.augmentation == "flip_crop"


def test_pixels_that_tell_nothing_keep_the_flip():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), 30)
    result = mirror_check.check(rng.random((150, SIZE, SIZE, 3)), labels, 5)
    assert result.mirror_keeps_class and result.augmentation == "flip_crop"
    assert result.share_lost < mirror_check.LOSS_MIN or result.z < mirror_check.Z_MIN


@pytest.mark.parametrize("asked", ["flip_crop", "crop", "none"])
def test_resolve_leaves_an_explicit_augmentation_alone(asked):
    config = TrainerConfig(augmentation=asked)
    assert task.resolve_augmentation(config, None, None, 3) == (config, None)


def test_resolve_reads_train_and_validation_and_names_its_choice():
    images, labels = patterns(4, 12)
    pixels = np.round(255 * np.clip(np.kron(images, np.ones((1, 2, 2, 1))), 0, 1)).astype(np.uint8)

    def split(rows):
        return tf.data.Dataset.from_tensor_slices((pixels[rows], labels[rows].astype(np.int64)))
    valid_rows = np.arange(0, len(labels), 6)
    train_rows = np.setdiff1d(np.arange(len(labels)), valid_rows)
    config, choice = task.resolve_augmentation(
        TrainerConfig(augmentation="auto", image_size=2 * SIZE), split(train_rows),
        split(valid_rows), 4)
    assert config.augmentation == "crop" and choice["chosen"] == "crop"
    assert choice["mirror_check"]["images"] == len(labels)
    assert "validation" in choice["chosen_on"]


def test_thumbnails_are_area_averages_in_reading_order():
    pixels = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    shrunk, ids = data.thumbnails(
        tf.data.Dataset.from_tensor_slices((pixels, np.array([3, 1], np.int64))), 2)
    expected = pixels.reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)) / 255.0
    np.testing.assert_allclose(shrunk, expected, atol=1e-6)
    np.testing.assert_array_equal(ids, [3, 1])


def test_the_longtail_recipe_decides_the_flip_and_the_paper_keeps_it():
    assert RECIPES["longtail"]["augmentation"] == "auto"
    assert TrainerConfig().augmentation == "flip_crop"
