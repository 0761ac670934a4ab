"""components/image_example_gen/image_check.py: one file written as is, or rejected and why."""
import os

import pytest

from components.image_example_gen import listing
from components.image_example_gen.image_check import check_image
from tests.support.ingest import (GRAY_JPEG, JPEG, PALETTE_PNG, RGBA_PNG, TRUNCATED_JPEG,
                                  image_file, write)


@pytest.mark.parametrize("name, data", [("rgb.jpg", JPEG), ("gray.jpg", GRAY_JPEG),
                                        ("rgba.png", RGBA_PNG), ("palette.png", PALETTE_PNG)],
                         ids=["rgb_jpeg", "gray_jpeg", "rgba_png", "palette_png"])
def test_check_image_ok(tmp_path, name, data):
    path = write(str(tmp_path), name, data)
    status, checked = check_image(image_file(path))
    assert status == "ok"
    assert checked.data == data and not checked.note  # the bytes as read, not re-encoded
    assert checked.file.path == path


@pytest.mark.parametrize("name, data, reason", [
    ("empty.jpg", b"", "empty file"),
    (".DS_Store", b"\0\0\0\1Bud1", "hidden file or folder"),
    (".hidden.jpg", JPEG, "hidden file or folder"),  # hidden even when decodable
], ids=["empty", "ds_store", "hidden_jpeg"])
def test_check_image_rejected_exact_reason(tmp_path, name, data, reason):
    path = write(str(tmp_path), name, data)
    assert check_image(image_file(path)) == ("rejected", (image_file(path), reason))


def test_check_image_rejects_files_in_hidden_folders(tmp_path):
    path = write(str(tmp_path), "train/Robin/.thumbnails/a.jpg", JPEG)
    hidden = listing.ImageFile("train", "Robin", path, "train/Robin/.thumbnails/a.jpg")
    assert check_image(hidden) == ("rejected", (hidden, "hidden file or folder"))


@pytest.mark.parametrize("name, data", [("text.jpg", b"this is not an image\n"),
                                        ("truncated.jpg", TRUNCATED_JPEG)],
                         ids=["text", "truncated_jpeg"])
def test_check_image_not_decodable(tmp_path, name, data):
    path = write(str(tmp_path), name, data)
    status, (f, reason) = check_image(image_file(path))
    assert status == "rejected"
    assert f == image_file(path)
    assert reason.startswith("not a decodable image: ")
    assert "\n" not in reason


def test_check_image_unreadable(tmp_path):
    os.makedirs(tmp_path / "folder.jpg")  # a folder named like a file
    status, (_, reason) = check_image(image_file(tmp_path / "folder.jpg"))
    assert status == "rejected"
    assert reason.startswith("unreadable: ")
