"""What the server checks in the images of a request before any is decoded: each image's size
from its header (schema.features.MAX_IMAGE_PIXELS each), and the request's pixels in all
(`max_request_pixels`): a small file can declare 12000x12000 pixels, and thousands of tiny
ones add up. Images come as `image_bytes` instances or inside tf.Examples (the `image`
feature of serving_examples and classify requests); every signature that decodes is guarded.
After a batch the model refused, `find_undecodable` names the instance that is not an image."""
from typing import Iterable, Optional

import numpy as np

from schema import images
from schema.features import MAX_IMAGE_PIXELS
from serving.rest import RequestError


def _size(data: bytes, where: str):
    try:
        return images.header_size(data)
    except images.ImageTooLarge as err:
        raise RequestError(f"{where} is {err}", 413) from None


def check_sizes(encoded: Iterable[bytes], what: str, max_request_pixels: Optional[int] = None,
                max_pixels: int = MAX_IMAGE_PIXELS) -> int:
    """RequestError (413) for an image over `max_pixels`, or for images whose pixels add up to
    more than `max_request_pixels`; returns the request's pixels (from headers only)."""
    total = 0
    for i, data in enumerate(encoded):
        size = _size(data, f"instance {i}: '{what}'")
        if not size:  # unchecked bytes would reach the decoder: refused (TF may still decode)
            raise RequestError(f"instance {i}: '{what}' is not a decodable image (no JPEG, "
                               "PNG, GIF or BMP header)")
        if size[0] * size[1] > max_pixels:
            raise RequestError(f"instance {i}: '{what}' is {size[0]}x{size[1]} pixels, over the "
                               f"limit of {max_pixels} pixels; send a smaller image", 413)
        total += size[0] * size[1]
        if max_request_pixels and total > max_request_pixels:
            raise RequestError(f"the request's images hold more than {max_request_pixels} "
                               f"pixels in all (the server's --max-request-pixels); send fewer "
                               f"or smaller images per request", 413)
    return total


def find_undecodable(encoded: np.ndarray, what: str) -> None:
    """RequestError naming the first instance that TensorFlow's decoder (the model's) cannot
    decode; nothing when all decode."""
    import tensorflow as tf
    for i, data in enumerate(encoded.ravel()):
        try:
            tf.io.decode_image(data, channels=3, expand_animations=False)
        except (tf.errors.OpError, ValueError) as err:
            reason = getattr(err, "message", str(err)).splitlines()[0]
            raise RequestError(f"instance {i}: '{what}' is not a decodable image "
                               f"({reason})") from None
