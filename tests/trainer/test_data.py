"""trainer/data.py: the cache budget, and the same batches' class shares whether a split is held
in memory or streamed from disk."""
import numpy as np
import psutil
import pytest
import tensorflow as tf

from trainer import data, sampling

COUNTS = [120, 40, 6, 2]


def examples(image_size=2):
    """Grouped by class; each image's pixels are 60 * class + (its index in the class % 60)."""
    labels = np.concatenate([np.full(n, c, np.int64) for c, n in enumerate(COUNTS)])
    values = np.concatenate([60 * c + np.arange(n) % 60 for c, n in enumerate(COUNTS)])
    pixels = np.broadcast_to(values.astype(np.uint8)[:, None, None, None],
                             (len(labels), image_size, image_size, 3)).copy()
    return tf.data.Dataset.from_tensor_slices((pixels, labels))


def test_cache_budget_takes_what_fits():
    budget = data.CacheBudget(cache_gib=1e-6, image_size=2)  # 1,073 bytes
    per = 2 * 2 * 3 + data.EXAMPLE_OVERHEAD
    assert budget.bytes_per_example == per
    assert budget.take(1) and budget.left == int(1e-6 * 2 ** 30) - per
    assert not budget.take(10 ** 6)
    assert not data.CacheBudget(0.0, 2).take(1)  # 0: always stream
    # -1: a quarter of the machine's memory, or of its container's limit when lower.
    assert data.CacheBudget(-1.0, 2).left == int(0.25 * data.memory_limit())
    assert 0 < data.memory_limit() <= psutil.virtual_memory().total


@pytest.mark.parametrize("cache_gib", [1.0, 0.0, 1e-5])
def test_balanced_batches_have_equal_shares_held_or_streamed(cache_gib):
    """1 GiB: every class held; 0: every class streamed; 10 KiB: the two rarest held."""
    budget = data.CacheBudget(cache_gib, image_size=2)
    held = sampling.in_memory_classes(COUNTS, data.HELD_COPIES * budget.bytes_per_example,
                                      budget.left)
    assert held.sum() == {1.0: 4, 0.0: 0, 1e-5: 2}[cache_gib]
    batches = data.sampled_batches(examples(), COUNTS, "balanced", budget, batch_size=50,
                                   seed=4, augmentation="none")
    labels, pixels = [], []
    for x, y in batches.take(120).as_numpy_iterator():
        labels.append(y.argmax(axis=1))
        pixels.append(x)
    labels, pixels = np.concatenate(labels), np.concatenate(pixels)
    shares = np.bincount(labels, minlength=4) / len(labels)
    np.testing.assert_allclose(shares, [0.25] * 4, atol=0.02)
    # Pixels come back as float [0, 1] of the stored uint8, with their own label.
    values = np.round(pixels[:, 0, 0, 0] * 255).astype(int)
    np.testing.assert_array_equal(values // 60, labels)
    assert set(values[labels == 3]) == {180, 181}  # the 2 images of the rarest class


def test_natural_batches_stream_each_example_once_an_epoch():
    batches = data.natural_batches(examples(), 4, batch_size=16, seed=1, augmentation="none")
    labels = np.concatenate([y.argmax(axis=1) for _, y in batches.as_numpy_iterator()])
    assert np.bincount(labels).tolist() == COUNTS
    # Shuffled: not in the grouped reading order.
    assert labels.tolist() != sorted(labels.tolist())


def test_read_split_labels_and_pixels_come_in_the_same_order(tmp_path):
    """What the validation choices rely on: labels() and pixel_batches() over a split read
    from Transform's files (TFXIO, parallel reads) pair each image with its own label."""
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx_bsl.tfxio import tf_example_record
    from tensorflow_transform.tf_metadata import schema_utils
    from schema.features import LABEL_ID_KEY, PIXELS_KEY
    from trainer.preprocessing import serialize_pixels

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 600)
    values = (labels * 60 + rng.integers(0, 60, 600)).astype(np.uint8)  # 60 * label + noise
    pixels = serialize_pixels(tf.constant(np.broadcast_to(
        values[:, None, None, None], (600, 2, 2, 3)).copy())).numpy()
    for shard in range(3):  # several files: interleaved reads
        with tf.io.TFRecordWriter(str(tmp_path / f"part-{shard}.gz"), "GZIP") as writer:
            for i in range(shard, 600, 3):
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    PIXELS_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[pixels[i]])),
                    LABEL_ID_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[labels[i]]))})).SerializeToString())
    schema = schema_utils.schema_from_feature_spec({
        PIXELS_KEY: tf.io.FixedLenFeature([], tf.string),
        LABEL_ID_KEY: tf.io.FixedLenFeature([], tf.int64)})

    class Output:  # the part of TFTransformOutput that read_split uses
        transformed_metadata = type("Metadata", (), {"schema": schema})

    accessor = DataAccessor(
        tf_dataset_factory=lambda files, options, schema: tf_example_record.TFExampleRecord(
            file_pattern=files, schema=schema).TensorFlowDataset(options),
        record_batch_factory=None, data_view_decode_fn=None)
    split = data.read_split([str(tmp_path / "part-*")], accessor, Output(), image_size=2)
    read_labels = data.labels(split)
    read_values = np.concatenate([x[:, 0, 0, 0] for x in
                                  data.pixel_batches(split, 64).as_numpy_iterator()])
    assert sorted(read_labels.tolist()) == sorted(labels.tolist())
    np.testing.assert_array_equal(np.round(read_values * 255).astype(int) // 60, read_labels)
    first = data.first_pixels(split, 3)
    assert first.shape == (3, 2, 2, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(np.round(first[:, 0, 0, 0] * 255) // 60, read_labels[:3])
