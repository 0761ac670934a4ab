"""Reading an image's size from its header, before any pixel is decoded: how ingestion and the
server keep decompression bombs out (the limit is schema.features.MAX_IMAGE_PIXELS)."""
import io
import warnings
from typing import Optional, Tuple

from PIL import Image


class ImageTooLarge(ValueError):
    """An image over the pixel limit, or one PIL refuses as a decompression bomb."""


def open_header(data: bytes) -> Optional[Image.Image]:
    """PIL's lazy open: reads the header (format, size, mode), decodes no pixel. None when PIL
    does not know the format (TensorFlow's decoder then decides); ImageTooLarge for PIL's
    decompression-bomb error (~179 MP)."""
    try:
        with warnings.catch_warnings():
            # Sizes between PIL's warning and error limits are for the caller's own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise ImageTooLarge(f"too large: {err}") from None
    except Exception:  # noqa: BLE001 - not an image PIL knows
        return None


def header_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from the header, or None when PIL does not know the format."""
    image = open_header(data)
    if image is None:
        return None
    with image:
        return image.size


def megapixels(width: int, height: int) -> str:
    return f"{width}x{height} ({width * height / 1e6:.1f} MP)"
