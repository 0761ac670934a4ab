"""The awkward files a real image folder holds, made in memory, and what ingestion must do with
each one. Shared by the executor-level tests and the real pipeline run."""
import io

import numpy as np
from PIL import Image

BIG_SIDE = 12000  # a 12000x12000 JPEG: 144 MP, ~0.4 GB as decoded RGB


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def noise(size=(40, 30), seed=0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def rgb_jpeg(seed=0, size=(40, 30)) -> bytes:
    return encode(Image.fromarray(noise(size, seed)), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    data = rgb_jpeg(seed=1, size=(64, 64))
    return data[: len(data) // 2]


def cmyk_jpeg() -> bytes:
    return encode(Image.fromarray(noise(seed=2)).convert("CMYK"), "JPEG", quality=95)


def gray_jpeg() -> bytes:
    return encode(Image.fromarray(noise(seed=3)).convert("L"), "JPEG")


def png16() -> bytes:
    """16-bit grayscale PNG (mode I;16), full 0..65535 range."""
    values = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    return encode(Image.frombuffer("I;16", (40, 30), values.tobytes(), "raw", "I;16", 0, 1),
                  "PNG")


def rgba_png() -> bytes:
    pixels = np.dstack([noise(seed=4), np.full((30, 40), 128, np.uint8)])
    return encode(Image.fromarray(pixels, "RGBA"), "PNG")


def palette_png() -> bytes:
    return encode(Image.fromarray(noise(seed=5)).convert("P"), "PNG")


def animated_gif() -> bytes:
    frames = [Image.fromarray(noise(seed=s)).convert("P") for s in (6, 7, 8)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def tiff_named_jpg() -> bytes:
    """A valid image TensorFlow cannot decode (TIFF): re-encoded as PNG at ingestion."""
    return encode(Image.fromarray(noise(seed=9)), "TIFF")


def big_jpeg(side: int = BIG_SIDE) -> bytes:
    """A side x side JPEG, made without holding side^2 RGB pixels: grayscale (1 byte a pixel,
    144 MB while encoding) with a gradient, ~2 MB on disk."""
    image = Image.linear_gradient("L").resize((side, side), Image.NEAREST)
    return encode(image, "JPEG", quality=75)


def big_png(width: int = 6000, height: int = 4500) -> bytes:
    """27 MP, over ingestion's 25 MP limit; not a JPEG, so it cannot be downscaled cheaply."""
    return encode(Image.new("L", (width, height), 90), "PNG")


# filename under <split>/<species>/ -> (bytes factory, outcome). Outcome: ("written", note
# prefix or "") or ("rejected", reason prefix).
CASES = {
    "zero_bytes.jpg": (lambda: b"", ("rejected", "empty file")),
    "truncated.jpg": (truncated_jpeg, ("rejected", "not a decodable image: ")),
    "text_named.jpg": (lambda: b"Hello, this is a text file, not a JPEG.\n",
                       ("rejected", "not a decodable image: ")),
    "cmyk.jpg": (cmyk_jpeg, ("written", "")),
    "gray.jpg": (gray_jpeg, ("written", "")),
    "sixteen_bit.png": (png16, ("written", "")),
    "rgba.png": (rgba_png, ("written", "")),
    "palette.png": (palette_png, ("written", "")),
    "animated.gif": (animated_gif, ("written", "")),
    "tiff_named.jpg": (tiff_named_jpg, ("written", "re-encoded: TIFF RGB as PNG")),
    "huge_12000.jpg": (big_jpeg, ("written", "re-encoded: downscaled from 12000x12000 to "
                                             "3000x3000")),
    "huge.png": (big_png, ("rejected", "too large: 6000x4500 (27.0 MP) PNG is over the "
                                      "25.0 MP limit")),
    "çà_ñoño_鳥.jpg": (lambda: rgb_jpeg(seed=10), ("written", "")),
    "nested/deeper/still/deep.jpg": (lambda: rgb_jpeg(seed=11), ("written", "")),
    ".DS_Store": (lambda: b"\0\0\0\1Bud1\0\0\x10\0", ("rejected", "hidden file or folder")),
    ".thumbnails/thumb.jpg": (lambda: rgb_jpeg(seed=12), ("rejected", "hidden file or folder")),
}
