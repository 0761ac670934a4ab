"""Helpers shared by the ingestion tests: tiny images, files written where a test wants them,
and ImageExampleGen's real executor run on them."""
import csv
import io
import os

import numpy as np
from PIL import Image
from tfx.types import standard_artifacts

from components.image_example_gen import component, executor, listing


def write(root, rel, data: bytes) -> str:
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def run_executor(tmp_path, input_base, **exec_properties):
    """Runs the real executor (Beam in memory) into tmp_path; returns (examples, report)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    report = component.IngestReport()
    report.uri = str(tmp_path / "report")
    os.makedirs(examples.uri)
    os.makedirs(report.uri)
    executor.Executor().Do(
        {}, {executor.EXAMPLES_KEY: [examples], executor.REPORT_KEY: [report]},
        dict({"input_base": str(input_base), "csv_index": "", "input_fingerprint": ""},
             **exec_properties))
    return examples, report


def encode(mode, size=(6, 4), color=None, fmt="JPEG"):
    """Bytes of a tiny image. mode: RGB, L, RGBA or P (palette)."""
    default = {"RGB": (200, 30, 10), "L": 128, "RGBA": (200, 30, 10, 255), "P": (0, 0, 255)}
    color = default[mode] if color is None else color
    if mode == "P":
        image = Image.new("RGB", size, color).convert("P")
    else:
        image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


JPEG = encode("RGB")
GRAY_JPEG = encode("L")
RGBA_PNG = encode("RGBA", color=(0, 255, 0, 128), fmt="PNG")
PALETTE_PNG = encode("P", fmt="PNG")
_buffer = io.BytesIO()
Image.fromarray(np.random.RandomState(0).randint(0, 255, (64, 64, 3), dtype=np.uint8)).save(
    _buffer, "JPEG")
TRUNCATED_JPEG = _buffer.getvalue()[: len(_buffer.getvalue()) // 2]


def image_file(path, split="train", species="Robin"):
    return listing.ImageFile(split, species, str(path), os.path.basename(str(path)))


def write_csv(path, rows, header=("class id", "filepaths", "labels", "data set",
                                  "scientific name")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
