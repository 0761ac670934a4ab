"""A tiny classifier problem for the Trainer's validation-split choices
(task.choose_on_validation): 2 x 2 x 3 images, one bright block of four values a species, and a
model whose embedding is the flattened pixels."""
import numpy as np
import tensorflow as tf


def images(counts, seed, signal=180.0):
    """2 x 2 x 3 uint8 images, bright (by `signal`) in their species' block of four values over
    uniform noise; and their label ids."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c, np.int64) for c, n in enumerate(counts)])
    flat = rng.uniform(0, 255 - signal, (len(labels), 12))
    for i, c in enumerate(labels):
        flat[i, 4 * c:4 * c + 4] += signal
    return flat.reshape(-1, 2, 2, 3).astype(np.uint8), labels


def dataset(split):
    return tf.data.Dataset.from_tensor_slices(split)


def flat(pixels):
    """The embedding of `silent_model`: the flattened pixels in [0, 1], as the Trainer feeds
    them."""
    return pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0


def silent_model():
    """Flattened pixels as the embedding, a classifier that says nothing (all-zero weights:
    every species scores alike, and every image is answered species 0)."""
    return tf.keras.Sequential([tf.keras.Input((2, 2, 3)), tf.keras.layers.Flatten(),
                                tf.keras.layers.Dense(3, activation="softmax",
                                                      kernel_initializer="zeros")])
