"""Reading the rows tf.Transform's Beam API outputs (instance dicts) in the tests."""
import numpy as np

from schema.features import LABEL_ID_KEY, PIXELS_KEY


def pixels_bytes(row) -> bytes:
    """A row's serialized pixels: bytes, or an array holding them. Not through numpy's bytes_,
    which drops trailing NUL bytes (and a serialized image may end in them)."""
    value = row[PIXELS_KEY]
    value = value if isinstance(value, bytes) else value.tolist()
    return value if isinstance(value, bytes) else value[0]


def label_id(row) -> int:
    return int(np.asarray(row[LABEL_ID_KEY]).reshape(-1)[0])
