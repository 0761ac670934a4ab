"""The Trainer's input: Transform's examples as (pixels, one-hot label) batches, drawn as the
config's sampling says, and the species names and train counts from Transform's vocabularies."""
import math
from typing import List, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from schema.features import LABEL_ID_KEY, PIXELS_KEY, SPECIES_COUNTS, SPECIES_VOCAB
from trainer import sampling
from trainer.augmentation import augment_dataset

SHUFFLE_BUFFER = 4096


def species_and_counts(tft_output: tft.TFTransformOutput):
    """Species names in label-id order and their train counts, both from Transform's analyzers."""
    names = [n.decode() for n in tft_output.vocabulary_by_name(SPECIES_VOCAB)]
    with tf.io.gfile.GFile(tft_output.vocabulary_file_by_name(SPECIES_COUNTS)) as handle:
        counts = {}
        for line in handle:
            count, name = line.rstrip("\n").split(" ", 1)
            counts[name] = int(count)
    return names, [counts[name] for name in names]


def read_split(files: List[str], data_accessor, tft_output, num_classes: int) -> tf.data.Dataset:
    """A transformed split as (pixels, one-hot label) examples, parsed once and then kept in
    memory: every later pass reads RAM."""
    dataset = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=256, shuffle=False, num_epochs=1,
                                              label_key=LABEL_ID_KEY),
        tft_output.transformed_metadata.schema)
    dataset = dataset.map(lambda f, y: (f[PIXELS_KEY], tf.one_hot(tf.reshape(y, [-1]),
                                                                   num_classes)))
    return dataset.unbatch().cache()


def steps_per_epoch(examples: int, batch_size: int) -> int:
    return max(1, math.ceil(examples / batch_size))


def natural_batches(examples: tf.data.Dataset, batch_size: int, seed: int,
                    augmentation: str) -> tf.data.Dataset:
    """One shuffled pass over the examples per epoch: each image once (the paper's sampling)."""
    dataset = examples.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    dataset = augment_dataset(dataset, seed, augmentation)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def by_class(examples: tf.data.Dataset, num_classes: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """The examples as (pixels, one-hot labels) arrays per class, in reading order."""
    pixels, labels = [], []
    for x, y in examples.batch(256):
        pixels.append(x.numpy())
        labels.append(y.numpy())
    pixels, labels = np.concatenate(pixels), np.concatenate(labels)
    ids = labels.argmax(axis=1)
    return [(pixels[ids == c], labels[ids == c]) for c in range(num_classes)]


def sampled_batches(per_class: List[Tuple[np.ndarray, np.ndarray]], mode: str,
                    batch_size: int, seed: int, augmentation: str) -> tf.data.Dataset:
    """An endless stream of batches in which class c appears with sampling.class_weights's
    share (natural, square-root or class-balanced); fit it with steps_per_epoch."""
    counts = [len(x) for x, _ in per_class]
    weights = sampling.class_weights(counts, mode)
    streams = [tf.data.Dataset.from_tensor_slices(arrays) for arrays in per_class]
    dataset = sampling.sampled(streams, weights, seed)
    dataset = augment_dataset(dataset, seed, augmentation)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def arrays(examples: tf.data.Dataset) -> Tuple[np.ndarray, np.ndarray]:
    """(pixels, label ids) of a (small) split, e.g. the validation split."""
    pixels, labels = [], []
    for x, y in examples.batch(256):
        pixels.append(x.numpy())
        labels.append(y.numpy().argmax(axis=1))
    if not pixels:
        return np.zeros((0,)), np.zeros((0,), dtype=np.int64)
    return np.concatenate(pixels), np.concatenate(labels)
