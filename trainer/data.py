"""The Trainer's input: Transform's examples as (pixels, one-hot label) batches, drawn as the
config's sampling says, and the species names and train counts from Transform's vocabularies.

Images held in memory do not grow with the data past a budget. Transform's files are read with
parallel interleaved reads and decoded to uint8 pixels; a split is held in memory only while it
fits the cache budget (`--cache-gib`; by default a quarter of the machine's memory, or of its
container's limit), else it is streamed from disk on every epoch through a bounded shuffle
buffer. Class-aware sampling holds the rarest species in memory and thins the stream of the
others (trainer/sampling.py). The pixels become float [0, 1] only in the batches
(trainer/preprocessing.py). What still grows with the data: the train embeddings (a few kB an
image) that prototypes and cRT are fitted on (task.py), and the 16-pixel thumbnails (3 kB an
image) that --augmentation auto reads (mirror_check.py).
"""
import logging
import math
from typing import List, Optional, Tuple

import numpy as np
import psutil
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from schema.features import LABEL_ID_KEY, PIXELS_KEY, SPECIES_COUNTS, SPECIES_VOCAB
from trainer import sampling
from trainer.augmentation import augment_dataset
from trainer.preprocessing import parse_pixels, to_unit_range

log = logging.getLogger(__name__)
SHUFFLE_BUFFER = 4096  # examples: a bounded buffer whatever the data's size
AUTO_CACHE_SHARE = 0.25  # of the machine's (or container's) memory, for --cache-gib -1
EXAMPLE_OVERHEAD = 256  # bytes tf.data keeps per cached example beside its pixels
# A species held for class-aware sampling exists about this many times: the array it is read
# into, tf.data's copy of it, and its shuffle buffer (the whole species when it is small).
HELD_COPIES = 3
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def species_and_counts(tft_output: tft.TFTransformOutput):
    """Species names in label-id order and their train counts, both from Transform's analyzers."""
    names = [n.decode() for n in tft_output.vocabulary_by_name(SPECIES_VOCAB)]
    with tf.io.gfile.GFile(tft_output.vocabulary_file_by_name(SPECIES_COUNTS)) as handle:
        counts = {}
        for line in handle:
            count, name = line.rstrip("\n").split(" ", 1)
            counts[name] = int(count)
    return names, [counts[name] for name in names]


def memory_limit() -> int:
    """The machine's memory, or its container's limit when lower (a Kubernetes pod, a Vertex AI
    replica): the same on every machine of a worker pool, unlike the memory free right now,
    so that every worker of a multi-worker run makes the same caching choices."""
    limit = psutil.virtual_memory().total
    for path in CGROUP_LIMITS:
        try:
            with open(path) as handle:
                value = handle.read().strip()
        except OSError:
            continue
        if value.isdigit():
            limit = min(limit, int(value))
    return limit


class CacheBudget:
    """Bytes the Trainer may hold as decoded images; each split it caches takes its share."""

    def __init__(self, cache_gib: float, image_size: int):
        if cache_gib < 0:
            self.left = int(AUTO_CACHE_SHARE * memory_limit())
        else:
            self.left = int(cache_gib * (1 << 30))
        self.bytes_per_example = image_size * image_size * 3 + EXAMPLE_OVERHEAD

    def copy(self) -> "CacheBudget":
        """The same budget, to spend on one training stage (a stage's holdings are released
        when it ends)."""
        other = CacheBudget.__new__(CacheBudget)
        other.left, other.bytes_per_example = self.left, self.bytes_per_example
        return other

    def take(self, examples: int) -> bool:
        """True (and the bytes are taken) when `examples` images fit in what is left."""
        needed = examples * self.bytes_per_example
        if needed > self.left:
            return False
        self.left -= needed
        return True


def read_split(files: List[str], data_accessor, tft_output, image_size: int) -> tf.data.Dataset:
    """A transformed split as (uint8 pixels [size, size, 3], label id) examples, in the files'
    order, streamed from disk with parallel interleaved reads."""
    dataset = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=256, shuffle=False, num_epochs=1,
                                              label_key=LABEL_ID_KEY),
        tft_output.transformed_metadata.schema)
    dataset = dataset.map(lambda f, y: (tf.reshape(f[PIXELS_KEY], [-1]), tf.reshape(y, [-1])))
    return dataset.unbatch().map(lambda s, y: (parse_pixels(s, image_size), y),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def cached_if_fits(examples: tf.data.Dataset, count: int, budget: CacheBudget,
                   name: str) -> tf.data.Dataset:
    """The split held in memory after its first pass when it fits the budget, else streamed."""
    if budget.take(count):
        return examples.cache()
    log.info("the %s split (%d images) is over the cache budget: streamed from disk each epoch",
             name, count)
    return examples


def model_inputs(examples: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """(uint8 pixels, label id) -> (float [0, 1] pixels, one-hot label)."""
    return examples.map(lambda x, y: (to_unit_range(x), tf.one_hot(y, num_classes)),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def steps_per_epoch(counts: List[int], batch_size: int, species_quota: int = 0,
                    sampling_mode: str = "natural") -> int:
    """An epoch's steps: as many images as train has, or more where the species quota asks:
    under quota sampling each species' images or the quota, whichever is more, summed; under
    the others the quota times the species when that is more (small data sets need more steps
    than one pass's worth)."""
    if sampling_mode == "quota":
        images = sampling.raised_to_quota(counts, species_quota).sum()
    else:
        images = max(sum(counts), species_quota * len(counts))
    return max(1, math.ceil(images / batch_size))


def natural_batches(examples: tf.data.Dataset, num_classes: int, batch_size: int, seed: int,
                    augmentation: str) -> tf.data.Dataset:
    """One shuffled pass over the examples per epoch: each image once (the paper's sampling)."""
    dataset = examples.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    dataset = augment_dataset(model_inputs(dataset, num_classes), seed, augmentation)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def class_arrays(examples: tf.data.Dataset, held: np.ndarray) -> List[Optional[np.ndarray]]:
    """The uint8 pixels of each held class (None for the others), read in one pass."""
    chunks: List[list] = [[] for _ in held]
    for x, y in examples.filter(lambda x, y: tf.gather(tf.constant(held), y)).batch(256):
        x, y = x.numpy(), y.numpy()
        for c in np.unique(y):
            chunks[c].append(x[y == c])
    arrays: List[Optional[np.ndarray]] = []
    for c, is_held in enumerate(held):
        if not is_held:
            arrays.append(None)
        else:
            arrays.append(np.concatenate(chunks[c]) if chunks[c] else None)
    return arrays


def sampled_batches(examples: tf.data.Dataset, counts: List[int], mode: str,
                    budget: CacheBudget, batch_size: int, seed: int,
                    augmentation: str, species_quota: int = 0) -> tf.data.Dataset:
    """An endless stream of batches in which class c appears with sampling.class_weights's
    share (natural, square-root, class-balanced or quota); fit it with steps_per_epoch. The
    rarest classes that fit the budget are held in memory, the others streamed and thinned."""
    num_classes = len(counts)
    weights = sampling.class_weights(counts, mode, species_quota)
    held = sampling.in_memory_classes(counts, HELD_COPIES * budget.bytes_per_example,
                                      budget.left)
    if not held.all():
        log.info("%s sampling: %d of %d species held in memory, the others streamed", mode,
                 int(held.sum()), num_classes)
    budget.take(HELD_COPIES * int(np.asarray(counts)[held].sum()))
    arrays = class_arrays(examples, held)
    in_memory = [None if a is None else tf.data.Dataset.from_tensor_slices(
        (a, np.full(len(a), c, np.int64))) for c, a in enumerate(arrays)]
    streamed = None
    if not held.all():
        keep = sampling.keep_probabilities(counts, weights, ~held)
        streamed = sampling.thinned(
            examples.filter(lambda x, y: tf.gather(tf.constant(~held), y)), keep, seed)
    dataset = sampling.mixed(in_memory, streamed, weights, seed)
    dataset = augment_dataset(model_inputs(dataset, num_classes), seed, augmentation)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def labels(examples: tf.data.Dataset) -> np.ndarray:
    """The label ids of a split, in reading order."""
    ids = [y for y in examples.map(lambda x, y: y).batch(4096).as_numpy_iterator()]
    return np.concatenate(ids) if ids else np.zeros((0,), np.int64)


def labelled_pixel_batches(examples: tf.data.Dataset,
                           batch_size: int = 256) -> tf.data.Dataset:
    """(float [0, 1] pixels, label ids) in reading order, batched."""
    return examples.map(lambda x, y: (to_unit_range(x), y), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def pixel_batches(examples: tf.data.Dataset, batch_size: int = 256) -> tf.data.Dataset:
    """Float [0, 1] pixels in reading order, batched, without labels: what predict takes."""
    return examples.map(lambda x, y: to_unit_range(x), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def thumbnails(examples: tf.data.Dataset, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Float [0, 1] pixels shrunk to size x size (area averages), and the label ids, of a split
    in reading order: what trainer/mirror_check.py reads."""
    shrunk = labelled_pixel_batches(examples).map(
        lambda x, y: (tf.image.resize(x, [size, size], method="area"), y))
    pixels, ids = [], []
    for x, y in shrunk.as_numpy_iterator():
        pixels.append(x)
        ids.append(y)
    if not pixels:
        return np.zeros((0, size, size, 3), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(pixels), np.concatenate(ids)


def first_pixels(examples: tf.data.Dataset, n: int) -> np.ndarray:
    """Float [0, 1] pixels of the first n examples."""
    return np.array([x for x in pixel_batches(examples.take(n)).unbatch().as_numpy_iterator()])
