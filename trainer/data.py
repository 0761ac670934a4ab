"""The Trainer's input: Transform's examples as (pixels, one-hot label) batches, and the species
names and train counts from Transform's vocabularies."""
from typing import List

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from schema.features import LABEL_ID_KEY, PIXELS_KEY, SPECIES_COUNTS, SPECIES_VOCAB
from trainer.augmentation import augment_dataset


def species_and_counts(tft_output: tft.TFTransformOutput):
    """Species names in label-id order and their train counts, both from Transform's analyzers."""
    names = [n.decode() for n in tft_output.vocabulary_by_name(SPECIES_VOCAB)]
    with tf.io.gfile.GFile(tft_output.vocabulary_file_by_name(SPECIES_COUNTS)) as handle:
        counts = {}
        for line in handle:
            count, name = line.rstrip("\n").split(" ", 1)
            counts[name] = int(count)
    return names, [counts[name] for name in names]


def make_dataset(files: List[str], data_accessor, tft_output, num_classes: int,
                 batch_size: int, training: bool, seed: int, augmentation: bool):
    dataset = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=256, shuffle=False, num_epochs=1,
                                              label_key=LABEL_ID_KEY),
        tft_output.transformed_metadata.schema)
    # Parse once, then keep decoded tensors in memory: every later epoch reads RAM.
    dataset = dataset.map(lambda f, y: (f[PIXELS_KEY], tf.one_hot(tf.reshape(y, [-1]),
                                                                   num_classes)))
    dataset = dataset.unbatch().cache()
    if training:
        dataset = dataset.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
        if augmentation:
            dataset = augment_dataset(dataset, seed)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
