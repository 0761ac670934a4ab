"""Training-time augmentation, in its own module (TensorFlow only) so that the benchmarks'
plain Keras baseline trains with exactly the Trainer's augmentation."""
import tensorflow as tf


def augment(pixels, seed):
    """A random horizontal flip and a random crop of ~90% of each side, resized back."""
    size = pixels.shape[0]
    crop = max(1, round(size * 0.9))
    pixels = tf.image.stateless_random_flip_left_right(pixels, seed)
    pixels = tf.image.stateless_random_crop(pixels, [crop, crop, 3], seed + 1)
    return tf.image.resize(pixels, [size, size])


def augment_dataset(dataset: tf.data.Dataset, seed: int) -> tf.data.Dataset:
    """(pixels, label) examples -> augmented ones. Stateless ops with seeds from a seeded
    stream: reproducible, yet different each epoch when the dataset is reshuffled, because the
    shuffled order pairs examples with other seeds."""
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda xy, s: (augment(xy[0], s), xy[1]), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
