"""components/tfrecords.py: Beam's TFRecord checksums from google-crc32c, with the values
TensorFlow checks when it reads the files; records counted from their headers."""
import os

import apache_beam as beam
import apache_beam.io.tfrecordio as tfrecordio
import crcmod.predefined
import google_crc32c
import pytest
import tensorflow as tf

from components import tfrecords

RECORDS = [os.urandom(n) for n in (0, 1, 7, 4096, 100_000)]


def test_beam_takes_google_crc32c_with_the_same_values():
    assert tfrecords.use_hardware_crc32c()
    assert tfrecordio._default_crc32c_fn.fn is google_crc32c.value
    table_driven = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    for record in RECORDS:
        assert tfrecordio._default_crc32c_fn(record) == table_driven(record)


def test_tensorflow_reads_what_beam_wrote_and_checks_it(tmp_path):
    assert tfrecords.use_hardware_crc32c()
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


def write_records(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def test_the_checksum_is_tensorflows(tmp_path):
    """The header of a record TensorFlow wrote: its length, then masked_crc32c of the length."""
    for record in RECORDS:
        with open(write_records(tmp_path / "one", [record]), "rb") as handle:
            header = handle.read(tfrecords.HEADER.size)
        length, length_crc = tfrecords.HEADER.unpack(header)
        assert length == len(record)
        assert tfrecords.masked_crc32c(header[:8]) == length_crc


def test_records_are_counted_from_their_headers(tmp_path):
    assert tfrecords.count_records(write_records(tmp_path / "some", RECORDS)) == len(RECORDS)
    assert tfrecords.count_records(write_records(tmp_path / "none", [])) == 0


def test_a_file_that_is_not_whole_is_refused(tmp_path):
    path = write_records(tmp_path / "cut", RECORDS)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-1])
    with pytest.raises(ValueError, match="record 5 is cut short"):
        tfrecords.count_records(path)
    open(path, "wb").write(data[:5])
    with pytest.raises(ValueError, match="record 1 has no valid header"):
        tfrecords.count_records(path)
    changed = bytearray(data)
    changed[0] ^= 1  # the first record's length, which its header's checksum no longer fits
    open(path, "wb").write(bytes(changed))
    with pytest.raises(ValueError, match="record 1 has no valid header"):
        tfrecords.count_records(path)
