"""Reading and checking one image file for ingestion: what is written, what is rejected and why.

Images are written as read from disk, except (each listed in notes.csv with the reason):
  * a JPEG over `max_pixels` is downscaled while it is decoded (PIL's draft(): 1/2, 1/4 or 1/8
    scale in the JPEG decoder, so the full-size pixels never exist in memory) and re-encoded, so
    that neither ingestion nor Transform decodes a huge image; other formats over the limit are
    rejected, as is anything over PIL's decompression-bomb limit;
  * an image that PIL reads but TensorFlow cannot decode (TIFF, WebP, ...) is re-encoded as PNG,
    since Transform decodes with TensorFlow.
The size is read from the file header before any pixel is decoded. Every file's sha256 (of its
bytes on disk) is recorded: the same image in two splits is train/test leakage.

Ingestion reads a file twice: the check keeps only its verdict (`Checked.without_data`), and
`bytes_to_write` reads the file again once the frequency groups are known, so no stage holds
every image in memory while the train counts are completed (a re-encoded file is checked and
re-encoded again). The second read must find what the check saw (same sha256, same reason),
or ingestion stops: a file that changed in between was never checked.
"""
import dataclasses
import functools
import hashlib
import io
import re
from typing import Callable, List, Optional, Sequence, Tuple

import tensorflow as tf
from tfx.dsl.io import fileio

from components.image_example_gen import listing
from schema import images
from schema.features import MAX_IMAGE_PIXELS

REENCODED = "re-encoded"


@dataclasses.dataclass(frozen=True)
class Checked:
    """A file that will be written: `data` is what goes into the tf.Example."""
    file: listing.ImageFile
    data: bytes
    sha256: str     # of the bytes on disk (before any re-encoding)
    note: str = ""  # why `data` differs from the file's bytes ("re-encoded: ..."), or ""

    def without_data(self) -> "Checked":
        """The verdict alone, small enough to hold for every file of a large dataset."""
        return dataclasses.replace(self, data=b"")


class FileChangedError(RuntimeError):
    """A file's bytes differ between ingestion's check and its write."""


def _tf_error(err: Exception) -> str:
    # Drop TensorFlow's "{{function_node ...}}" prefix: the report is for people.
    message = re.sub(r"^\{\{.*?\}\}\s*", "", str(err).strip().split("\n")[0])
    return message or type(err).__name__


def _tf_decodes(data: bytes) -> Optional[str]:
    """None if TensorFlow decodes `data` as Transform will (the same op); else the error."""
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
        return _tf_error(err)
    if image.shape[0] == 0 or image.shape[1] == 0:
        return "image has no pixels"
    return None


def _read(path: str) -> Tuple[Optional[bytes], str]:
    """(the file's bytes, "") or (None, why it could not be read)."""
    try:
        with fileio.open(path, "rb") as handle:
            return handle.read(), ""
    except Exception as err:  # noqa: BLE001 - permissions, vanished, a folder named like a file
        return None, f"unreadable: {err}"


def _encode(image, fmt: str) -> bytes:
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # alpha and palettes: TF decodes them to RGB as well
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _downscale(image, max_pixels: int) -> Tuple[Optional[bytes], str]:
    """An over-size image: (JPEG bytes downscaled to at most max_pixels, note) or
    (None, rejection reason)."""
    width, height = image.size
    size = f"{images.megapixels(width, height)} {image.format or 'image'}"
    limit = f"the {max_pixels / 1e6:.1f} MP limit"
    if image.format != "JPEG":
        return None, (f"too large: {size} is over {limit}; only JPEGs are downscaled at "
                      f"ingestion (decoding this one in full would take "
                      f"{width * height * 4 / 2**20:.0f} MB)")
    for scale in (2, 4, 8):  # the scales libjpeg decodes at directly
        target = (-(-width // scale), -(-height // scale))
        if target[0] * target[1] <= max_pixels:
            break
    else:
        return None, f"too large: {size} is over {limit} even at 1/8 scale"
    try:
        image.draft(image.mode if image.mode in ("L", "CMYK") else "RGB", target)
        image.load()
    except Exception as err:  # noqa: BLE001 - truncated or corrupt: PIL says why
        return None, f"not a decodable image: {err}"
    return (_encode(image, "JPEG"),
            f"{REENCODED}: downscaled from {width}x{height} to {image.size[0]}x{image.size[1]} "
            f"(over {limit}), JPEG quality 95")


@dataclasses.dataclass(frozen=True)
class _ToDecode:
    """A file read and hashed whose header is within max_pixels: TensorFlow decodes it next."""
    file: listing.ImageFile
    data: bytes
    sha256: str
    header: Optional[object]  # PIL's image (header read, pixels not), None if PIL cannot open it


def _read_and_inspect(image_file: listing.ImageFile, max_pixels: int):
    """The part of the check before TensorFlow's decode: a _ToDecode, or a finished result."""
    if listing.is_hidden(image_file.filename):
        # .DS_Store, .thumbnails/...: listed and accounted for, never taken as an image.
        return "rejected", (image_file, "hidden file or folder")
    data, unreadable = _read(image_file.path)
    if data is None:
        return "rejected", (image_file, unreadable)
    if not data:
        return "rejected", (image_file, "empty file")
    sha256 = hashlib.sha256(data).hexdigest()

    try:
        header = images.open_header(data)
    except images.ImageTooLarge as err:
        return "rejected", (image_file, str(err))
    if header is not None and header.size[0] * header.size[1] > max_pixels:
        smaller, note = _downscale(header, max_pixels)
        if smaller is None:
            return "rejected", (image_file, note)
        error = _tf_decodes(smaller)
        if error:
            return "rejected", (image_file, f"not a decodable image: {error}")
        return "ok", Checked(image_file, smaller, sha256, note)
    return _ToDecode(image_file, data, sha256, header)


@tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
def _decoded_sizes(data):
    return tf.map_fn(
        lambda one: tf.shape(tf.io.decode_image(one, channels=3, expand_animations=False))[:2],
        data, fn_output_signature=tf.TensorSpec([2], tf.int32))


def _tf_decode_errors(datas: List[bytes], map_on: Callable = map) -> List[Optional[str]]:
    """_tf_decodes for many images: one TensorFlow call for all of them (it decodes them on its
    own threads), one call each (mapped with `map_on`) only if some image in them fails, to say
    which and why."""
    if not datas:
        return []
    try:
        sizes = _decoded_sizes(tf.constant(datas)).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        return list(map_on(_tf_decodes, datas))
    return [None if height and width else "image has no pixels" for height, width in sizes]


def _verdict(item: _ToDecode, error: Optional[str]):
    image_file, header = item.file, item.header
    if error is None:
        return "ok", Checked(image_file, item.data, item.sha256)
    if header is not None and error != "image has no pixels":
        # A valid image TensorFlow cannot decode (TIFF, WebP, ...): PIL decodes it (within
        # max_pixels) and it is written as PNG, which Transform decodes.
        try:
            header.load()
            converted = _encode(header, "PNG")
        except Exception:  # noqa: BLE001 - PIL cannot read it either: TF's reason stands
            converted = None
        if converted is not None and _tf_decodes(converted) is None:
            return "ok", Checked(image_file, converted, item.sha256,
                                 f"{REENCODED}: {header.format} {header.mode} as PNG "
                                 f"(TensorFlow cannot decode it: {error})")
    if error == "image has no pixels":
        return "rejected", (image_file, error)
    return "rejected", (image_file, f"not a decodable image: {error}")


def check_images(image_files: Sequence[listing.ImageFile], map_on: Callable = map,
                 max_pixels: int = MAX_IMAGE_PIXELS) -> list:
    """check_image for each file, in order. `map_on` (a thread pool's map) runs the reading,
    hashing and header of each file; TensorFlow decodes the batch's images in one call, which
    spares a Python-held call per image."""
    results = list(map_on(functools.partial(_read_and_inspect, max_pixels=max_pixels),
                          image_files))
    to_decode = [i for i, result in enumerate(results) if isinstance(result, _ToDecode)]
    errors = _tf_decode_errors([results[i].data for i in to_decode], map_on)
    # The verdict on a failed image may decode it again (PIL, then PNG): on map_on's threads.
    verdicts = (map_on if any(errors) else map)(
        lambda pair: _verdict(*pair), [(results[i], error) for i, error in zip(to_decode, errors)])
    for i, verdict in zip(to_decode, verdicts):
        results[i] = verdict
    return results


def check_image(image_file: listing.ImageFile, max_pixels: int = MAX_IMAGE_PIXELS):
    """Reads one file. Returns ("ok", Checked) or ("rejected", (file, reason)).

    The check decodes with the same TensorFlow op that Transform uses, so anything
    written here decodes there too. The size comes from the header first: no image over
    `max_pixels` is decoded in full.
    """
    return check_images([image_file], max_pixels=max_pixels)[0]


def bytes_to_write(verdict: Checked, max_pixels: int) -> bytes:
    """The bytes the check chose for a passed file, from its verdict (`Checked.without_data`):
    the file read again, or for a re-encoded file the same check (and re-encoding) done again
    with the same `max_pixels`. Raises FileChangedError unless the file's sha256, and for a
    re-encoded file the reason, are what the check found."""
    if verdict.note:
        status, again = check_image(verdict.file, max_pixels)
        if status == "ok":
            found, data, why = again.sha256, again.data, again.note
        else:
            found, data, why = None, b"", again[1]
    else:
        data, why = _read(verdict.file.path)
        found = hashlib.sha256(data).hexdigest() if data is not None else None
    if found != verdict.sha256 or why != verdict.note:
        def seen(sha256, note):
            return ", ".join(filter(None, [sha256 and f"sha256 {sha256[:12]}...", note]))
        raise FileChangedError(
            f"{verdict.file.filename} changed while it was being ingested (checked: "
            f"{seen(verdict.sha256, verdict.note)}; when written: {seen(found, why)}): run "
            "ingestion again once the data stop changing")
    return data
