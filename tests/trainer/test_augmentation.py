"""Training-time augmentation: what each mode may and may not do to an image."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import augmentation

SIZE = 20
SEEDS = [tf.constant([s, 7], tf.int64) for s in range(40)]


def left_bright():
    """Bright on the left half, dark on the right: a mirror image shows at once."""
    pixels = np.zeros((SIZE, SIZE, 3), np.float32)
    pixels[:, :SIZE // 2] = 1.0
    return tf.constant(pixels)


def mirrored(pixels) -> bool:
    pixels = np.asarray(pixels)
    return pixels[:, :SIZE // 2].mean() < pixels[:, SIZE // 2:].mean()


def test_crop_never_mirrors_and_flip_crop_mirrors_about_half():
    image = left_bright()
    cropped = [augmentation.crop(image, seed) for seed in SEEDS]
    flipped = [augmentation.flip_crop(image, seed) for seed in SEEDS]
    assert all(c.shape == (SIZE, SIZE, 3) for c in cropped + flipped)
    assert not any(mirrored(c) for c in cropped)
    assert 10 <= sum(mirrored(f) for f in flipped) <= 30
    # The crop moves the edge between the halves: the augmentation does something.
    assert len({float(np.asarray(c)[:, SIZE // 2 - 1].mean()) for c in cropped}) > 1


def test_crop_takes_flip_crops_crop():
    """For a seed, flip_crop is crop of the image or of its mirror image: the two modes differ
    by the flip alone, so a comparison of them measures the flip."""
    image = tf.random.stateless_uniform((SIZE, SIZE, 3), [1, 2])
    for seed in SEEDS:
        both = augmentation.flip_crop(image, seed).numpy()
        plain = augmentation.crop(image, seed).numpy()
        mirror = augmentation.crop(tf.image.flip_left_right(image), seed).numpy()
        assert np.array_equal(both, plain) or np.array_equal(both, mirror)


def test_every_mode_of_the_flag_has_a_function():
    assert set(augmentation.MODES) == set(augmentation._FUNCTIONS) | {"auto", "none"}


def test_augment_dataset_is_seeded_and_names_an_unknown_mode():
    images = tf.data.Dataset.from_tensor_slices(
        (tf.random.stateless_uniform((6, SIZE, SIZE, 3), [3, 4]), tf.range(6)))

    def pixels(seed):
        return np.stack([x for x, _ in augmentation.augment_dataset(images, seed, "crop")])
    np.testing.assert_array_equal(pixels(5), pixels(5))
    assert not np.array_equal(pixels(5), pixels(6))
    assert not np.array_equal(pixels(5), np.stack([x for x, _ in images]))
    with pytest.raises(ValueError, match="unknown augmentation 'mirror'"):
        augmentation.augment_dataset(images, 5, "mirror")
