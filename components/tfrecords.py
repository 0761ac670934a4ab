"""TFRecord files as ingestion needs them: Beam's checksums on the CPU's instruction, and a
count of the records in a file that reads only their headers.

Beam's TFRecord reader and writer compute a CRC32C checksum of every record they read or
write. Beam takes python-snappy's or crcmod's table-driven code for it; google-crc32c (installed
with the Google Cloud clients) uses the CPU's CRC32C instruction and gives the same values, many
times faster. Beam has no option to choose: it keeps its choice in `_default_crc32c_fn.fn`,
which `use_hardware_crc32c` sets, for the whole process: every Beam-powered component that runs
in it (all of them on the local runner; on Kubeflow only ingestion's step), and any Beam worker
that imports ingestion's executor. Elsewhere Beam keeps its own; the values are the same.
"""
import struct

import apache_beam.io.tfrecordio as tfrecordio
import google_crc32c
from tfx.dsl.io import fileio

HEADER = struct.Struct("<QI")  # a record's length and the masked CRC32C of those 8 bytes
FOOTER_BYTES = 4  # the masked CRC32C of the record's data


def use_hardware_crc32c() -> bool:
    """Points Beam's TFRecord checksum at google-crc32c; False where that cannot be done (no C
    extension, or a Beam that no longer keeps its choice there)."""
    beam_crc32c = tfrecordio._default_crc32c_fn  # pylint: disable=protected-access
    if google_crc32c.implementation != "c" or not hasattr(beam_crc32c, "fn"):
        return False
    beam_crc32c.fn = google_crc32c.value
    return True


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC32C, rotated and offset (TensorFlow's record format)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def count_records(path: str) -> int:
    """Records in one uncompressed TFRecord file, from their headers alone (each length's own
    checksum is checked; the data's are checked by every reader downstream). Raises ValueError
    for a file that is not whole: a bad header, or a last record cut short. On local disk it
    reads 12 bytes a record; remote filesystems may fetch more, as their reads are buffered."""
    records = 0
    with fileio.open(path, "rb") as handle:
        size = handle.size()
        while handle.tell() < size:
            header = handle.read(HEADER.size)
            length, length_crc = HEADER.unpack(header) if len(header) == HEADER.size else (0, -1)
            if length_crc != masked_crc32c(header[:8]):
                raise ValueError(f"{path}: record {records + 1} has no valid header")
            end = handle.tell() + length + FOOTER_BYTES
            if end > size:
                raise ValueError(f"{path}: record {records + 1} is cut short")
            handle.seek(end)
            records += 1
    return records
