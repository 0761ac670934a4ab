"""Beam's TFRecord reader and writer compute a CRC32C checksum of every record they read or
write. Beam takes python-snappy's or crcmod's table-driven code for it; google-crc32c (installed
with the Google Cloud clients) uses the CPU's CRC32C instruction and gives the same values, many
times faster. Beam has no option to choose: it keeps its choice in `_default_crc32c_fn.fn`,
which `use_hardware_crc32c` sets, for the whole process (every Beam-powered component that runs
in it, and the DirectRunner's in-memory worker). Workers of a remote runner keep Beam's own.
"""
import apache_beam.io.tfrecordio as tfrecordio
import google_crc32c


def use_hardware_crc32c() -> bool:
    """Points Beam's TFRecord checksum at google-crc32c; False where that cannot be done (no C
    extension, or a Beam that no longer keeps its choice there)."""
    beam_crc32c = tfrecordio._default_crc32c_fn  # pylint: disable=protected-access
    if google_crc32c.implementation != "c" or not hasattr(beam_crc32c, "fn"):
        return False
    beam_crc32c.fn = google_crc32c.value
    return True
