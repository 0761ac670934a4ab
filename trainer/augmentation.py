"""Training-time augmentation, in its own module (TensorFlow only) so that the benchmarks'
plain Keras baseline trains with exactly the Trainer's augmentation.

  flip_crop  a random horizontal flip and a random crop of ~90% of each side (the paper's era)
  crop       the same crops without the flip: for classes whose mirror image is another class
             or none (digits, letters, signs); an animal's mirror image is the same species
  strong     a random-resized crop (35-100% of the area, aspect 3:4-4:3), a flip, and small
             brightness and contrast changes: a species with 2 training images is seen in
             many framings. No hue change: colour is part of what tells species apart.
"""
import tensorflow as tf

# The flag's choices: a function each below, but auto (decided before training, as
# trainer/mirror_check.py says) and none.
from trainer.hparams import AUGMENTATIONS as MODES


def crop(pixels, seed):
    """A random crop of ~90% of each side, resized back. It draws with seed + 1, as flip_crop
    does after its flip: for a seed the two modes take the same crop and differ by the flip."""
    size = pixels.shape[0]
    side = max(1, round(size * 0.9))
    pixels = tf.image.stateless_random_crop(pixels, [side, side, 3], seed + 1)
    return tf.image.resize(pixels, [size, size])


def flip_crop(pixels, seed):
    """A random horizontal flip and a random crop of ~90% of each side, resized back."""
    return crop(tf.image.stateless_random_flip_left_right(pixels, seed), seed)


def strong(pixels, seed):
    size = pixels.shape[0]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    pixels = tf.image.stateless_random_flip_left_right(pixels, seeds[0])
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(pixels), tf.zeros([0, 0, 4]), seed=seeds[1], min_object_covered=0.0,
        aspect_ratio_range=(0.75, 1.33), area_range=(0.35, 1.0),
        use_image_if_no_bounding_boxes=True)
    pixels = tf.image.resize(tf.slice(pixels, begin, extent), [size, size])
    pixels = tf.image.stateless_random_brightness(pixels, 0.15, seeds[2])
    pixels = tf.image.stateless_random_contrast(pixels, 0.8, 1.2, seeds[3])
    return tf.clip_by_value(pixels, 0.0, 1.0)


_FUNCTIONS = {"flip_crop": flip_crop, "crop": crop, "strong": strong}


def augment_dataset(dataset: tf.data.Dataset, seed: int, mode: str = "flip_crop"):
    """(pixels, label) examples -> augmented ones. Stateless ops with seeds from a seeded
    stream: reproducible, yet different each epoch when the dataset is reshuffled, because the
    shuffled order pairs examples with other seeds."""
    if mode not in MODES:
        raise ValueError(f"unknown augmentation {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "auto":
        raise ValueError("augmentation auto is decided on the data before training "
                         "(trainer/task.py's resolve_augmentation): pass what it chose")
    if mode == "none":
        return dataset
    function = _FUNCTIONS[mode]
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda xy, s: (function(xy[0], s), xy[1]), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
