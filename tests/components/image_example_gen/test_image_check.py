"""components/image_example_gen/image_check.py: one file written as is, or rejected and why."""
import concurrent.futures
import os

import pytest
from PIL import Image

from components.image_example_gen import executor, listing
from components.image_example_gen.image_check import (REENCODED, FileChangedError,
                                                      bytes_to_write, check_image, check_images)
from tests.support import bad_files
from tests.support.ingest import (GRAY_JPEG, JPEG, PALETTE_PNG, RGBA_PNG, TRUNCATED_JPEG,
                                  encode, image_file, write)


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


def test_a_batch_is_checked_as_each_file_alone(tmp_path):
    """check_images decodes a batch in one TensorFlow call; one undecodable image in it sends
    the batch to one call per image, so every file gets the verdict and reason it gets alone,
    in the batch's order, also with the per-file part on a thread pool."""
    files = [image_file(write(str(tmp_path), name, data)) for name, data in [
        ("a.jpg", JPEG), ("gray.jpg", GRAY_JPEG), ("truncated.jpg", TRUNCATED_JPEG),
        ("empty.jpg", b""), ("rgba.png", RGBA_PNG), ("text.jpg", b"not an image"),
        ("palette.png", PALETTE_PNG), ("scan.tiff", encode("RGB", fmt="TIFF"))]]
    alone = [check_image(f) for f in files]
    assert [status for status, _ in alone] == ["ok", "ok", "rejected", "rejected", "ok",
                                               "rejected", "ok", "ok"]
    assert alone[-1][1].note.startswith(REENCODED)  # TensorFlow cannot decode TIFF: PNG
    assert check_images(files) == alone
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert check_images(files, pool.map) == alone
    good = [f for f, (status, _) in zip(files, alone) if status == "ok"]
    assert check_images(good) == [r for r in alone if r[0] == "ok"]  # the one-call path
    assert check_images([]) == []


def test_check_image_unreadable(tmp_path):
    os.makedirs(tmp_path / "folder.jpg")  # a folder named like a file
    status, (_, reason) = check_image(image_file(tmp_path / "folder.jpg"))
    assert status == "rejected"
    assert reason.startswith("unreadable: ")


@pytest.mark.parametrize("data, max_pixels", [
    (JPEG, 10_000),                                                     # written as read
    (bad_files.rgb_jpeg(size=(400, 300)), 20_000),                      # downscaled
    (bad_files.encode(Image.new("RGB", (8, 6)), "TIFF"), 10_000),       # TIFF as PNG
], ids=["as_read", "downscaled", "tiff_as_png"])
def test_the_second_read_gives_the_bytes_the_check_chose(tmp_path, data, max_pixels):
    path = write(str(tmp_path), "a.jpg", data)
    status, checked = check_image(image_file(path), max_pixels)
    assert status == "ok"
    verdict = checked.without_data()
    assert verdict.data == b"" and verdict.sha256 == checked.sha256
    assert bytes_to_write(verdict, max_pixels) == checked.data
    assert (checked.data == data) == (not checked.note)


@pytest.mark.parametrize("change", ["rewritten", "removed"])
@pytest.mark.parametrize("data", [JPEG, bad_files.rgb_jpeg(size=(400, 300))],
                         ids=["as_read", "downscaled"])
def test_a_file_changed_after_its_check_stops_ingestion_with_its_name(tmp_path, change, data):
    path = write(str(tmp_path), "train/Robin/a.jpg", data)
    f = listing.ImageFile("train", "Robin", path, "train/Robin/a.jpg")
    verdict = check_image(f, 20_000)[1].without_data()
    if change == "rewritten":
        write(str(tmp_path), "train/Robin/a.jpg", GRAY_JPEG)
    else:
        os.remove(path)
    with pytest.raises(FileChangedError, match="train/Robin/a.jpg changed while it was being "
                                               "ingested"):
        bytes_to_write(verdict, 20_000)


def test_a_reencoded_file_checked_again_under_another_limit_is_not_written_as_read(tmp_path):
    path = write(str(tmp_path), "a.jpg", bad_files.rgb_jpeg(size=(400, 300)))
    verdict = check_image(image_file(path), 20_000)[1].without_data()
    assert verdict.note.startswith("re-encoded: downscaled")
    with pytest.raises(FileChangedError, match="re-encoded: downscaled"):
        bytes_to_write(verdict, 10**9)  # under this limit the file would go as read


def test_the_checks_ok_output_carries_no_image_bytes(tmp_path):
    path = write(str(tmp_path), "a.jpg", JPEG)
    (verdict,) = list(executor._route(check_image(image_file(path))))
    assert verdict.data == b"" and verdict.sha256 and verdict.file.path == path
