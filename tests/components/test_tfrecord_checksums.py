"""components/tfrecord_checksums.py: Beam's TFRecord checksums from google-crc32c, with the
values TensorFlow checks when it reads the files."""
import os

import apache_beam as beam
import apache_beam.io.tfrecordio as tfrecordio
import crcmod.predefined
import google_crc32c
import pytest
import tensorflow as tf

from components import tfrecord_checksums

RECORDS = [os.urandom(n) for n in (0, 1, 7, 4096, 100_000)]


def test_beam_takes_google_crc32c_with_the_same_values():
    assert tfrecord_checksums.use_hardware_crc32c()
    assert tfrecordio._default_crc32c_fn.fn is google_crc32c.value
    table_driven = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    for record in RECORDS:
        assert tfrecordio._default_crc32c_fn(record) == table_driven(record)


def test_tensorflow_reads_what_beam_wrote_and_checks_it(tmp_path):
    assert tfrecord_checksums.use_hardware_crc32c()
    prefix = str(tmp_path / "records")
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(RECORDS) | beam.io.WriteToTFRecord(prefix, num_shards=1)
    [path] = tf.io.gfile.glob(prefix + "*")
    read = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    assert sorted(read) == sorted(RECORDS)

    # The same file with one byte of the last record's data checksum changed: TensorFlow, which
    # computes its own CRC32C, must refuse it, so the values above were checked.
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(path))
