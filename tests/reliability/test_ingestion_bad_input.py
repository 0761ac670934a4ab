"""Ingestion under bad input: every awkward file is either written (decodable by Transform's own
op) or rejected with a reason, and files read = examples written + files rejected, always.
Executor level (Beam in memory, seconds); the real pipeline run is in test_pipeline_faults.py."""
import csv
import glob
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.image_example_gen import executor, ingest_report, listing
from components.image_example_gen.image_check import check_image
from schema.features import MAX_IMAGE_PIXELS
from tests.support.ingest import run_executor, write
from tests.support import bad_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_examples(examples_uri):
    """filename -> (split, species, image bytes) of every written tf.Example."""
    out = {}
    for split_dir in sorted(glob.glob(os.path.join(examples_uri, "Split-*"))):
        split = os.path.basename(split_dir)[len("Split-"):]
        for record in tf.data.TFRecordDataset(
                executor.example_files(split_dir)).as_numpy_iterator():
            feature = tf.train.Example.FromString(record).features.feature
            filename = feature["filename"].bytes_list.value[0].decode()
            assert filename not in out, f"{filename} written twice"
            out[filename] = (split, feature["species"].bytes_list.value[0].decode(),
                             feature["image"].bytes_list.value[0])
    return out


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def files_on_disk(root):
    """Every file under <split>/<species>/, hidden ones included: what 'files read' must be."""
    found = []
    for split in ("train", "test", "valid"):
        split_dir = os.path.join(root, split)
        for species in os.listdir(split_dir) if os.path.isdir(split_dir) else []:
            for dirpath, _, names in os.walk(os.path.join(split_dir, species)):
                found += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
    return sorted(found)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """One dataset with every awkward case, an empty species folder, non-ASCII names, a
    within-split duplicate and a train/test leak; ingested once by the real executor."""
    tmp = tmp_path_factory.mktemp("bad_input")
    root = tmp / "data"
    expected = {}  # filename -> (outcome, note/reason prefix)
    for name, (make, outcome) in bad_files.CASES.items():
        rel = f"train/Robin/{name}"
        write(root, rel, make())
        expected[rel] = outcome
    good = {f"train/Crow/c{i}.jpg": bad_files.rgb_jpeg(seed=100 + i) for i in range(3)}
    good["train/Crow/c0_copy.jpg"] = good["train/Crow/c0.jpg"]  # within train: a warning
    good["train/Pájaro Ñandú/ñ.jpg"] = bad_files.rgb_jpeg(seed=200)  # non-ASCII species
    good["test/Robin/t0.jpg"] = bad_files.rgb_jpeg(seed=300)
    good["test/Crow/leaked.jpg"] = good["train/Crow/c1.jpg"]  # the same bytes in train and test
    good["test/Pájaro Ñandú/t.png"] = bad_files.encode(
        Image.fromarray(bad_files.noise(seed=301)), "PNG")
    for rel, data in good.items():
        write(root, rel, data)
        expected[rel] = ("written", "")
    os.makedirs(root / "train" / "Empty Species")
    os.makedirs(root / "test" / "Empty Species" / "nested")  # empty, even with a subfolder
    examples, report = run_executor(tmp, root)
    summary = json.loads((tmp / "report" / "summary.json").read_text(encoding="utf-8"))
    return dict(root=str(root), examples=examples, report=report, summary=summary,
                expected=expected, written=read_examples(examples.uri),
                rejected=read_csv(tmp / "report" / "rejected.csv"),
                notes=read_csv(tmp / "report" / "notes.csv"),
                duplicates=read_csv(tmp / "report" / "duplicates.csv"))


def test_every_file_is_written_or_rejected_and_none_is_lost(ingested):
    summary, expected = ingested["summary"], ingested["expected"]
    on_disk = files_on_disk(ingested["root"])
    assert set(on_disk) == set(expected)
    assert summary["files_read"] == len(on_disk)
    assert summary["files_read"] == summary["examples_written"] + summary["files_rejected"]
    written, rejected = ingested["written"], {r["filename"]: r for r in ingested["rejected"]}
    assert set(written).isdisjoint(rejected)
    assert set(written) | set(rejected) == set(expected)  # lost: none
    for filename, (outcome, text) in expected.items():
        if outcome == "written":
            assert filename in written, (filename, rejected.get(filename))
        else:
            assert filename in rejected, filename
            assert rejected[filename]["reason"].startswith(text), rejected[filename]
            assert "\n" not in rejected[filename]["reason"]
    assert summary["examples_written"] == len(written)
    assert summary["files_rejected"] == len(rejected)
    print(f"\nfiles read {summary['files_read']}, written {summary['examples_written']}, "
          f"rejected {summary['files_rejected']} ({summary['rejected_by_reason']}), "
          f"re-encoded {summary['files_reencoded']}, lost "
          f"{summary['files_read'] - summary['examples_written'] - summary['files_rejected']}")


def test_written_images_decode_with_transforms_op(ingested):
    """Transform decodes with trainer.preprocessing.decode_and_resize: every written image
    must go through it, and none may be bigger than the pixel limit."""
    from trainer.preprocessing import decode_and_resize
    for filename, (_, _, data) in ingested["written"].items():
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        assert image.shape[0] * image.shape[1] <= MAX_IMAGE_PIXELS, filename
        pixels = decode_and_resize(tf.constant([data]), 16)
        assert pixels.shape == (1, 16, 16, 3), filename


def test_formats_tensorflow_decodes_are_written_as_read(ingested):
    """CMYK JPEG, grayscale JPEG, 16-bit PNG, RGBA and palette PNGs and an animated GIF:
    TensorFlow decodes them all (checked here), so their bytes are kept as they are."""
    root, written = ingested["root"], ingested["written"]
    for name in ("cmyk.jpg", "gray.jpg", "sixteen_bit.png", "rgba.png", "palette.png",
                 "animated.gif"):
        filename = f"train/Robin/{name}"
        with open(os.path.join(root, filename), "rb") as handle:
            assert written[filename][2] == handle.read(), name
    notes = {n["filename"] for n in ingested["notes"]}
    assert not notes & {f"train/Robin/{n}" for n in ("cmyk.jpg", "sixteen_bit.png")}


def test_cmyk_and_16_bit_decode_to_the_right_pixels():
    cmyk = bad_files.cmyk_jpeg()
    by_tf = tf.io.decode_image(cmyk, channels=3).numpy().astype(int)
    by_pil = np.asarray(Image.open(io.BytesIO(cmyk)).convert("RGB")).astype(int)
    assert np.abs(by_tf - by_pil).mean() < 3  # the colours, not an inverted CMYK
    sixteen = tf.io.decode_image(bad_files.png16(), channels=3, dtype=tf.uint8).numpy()
    assert sixteen.dtype == np.uint8 and sixteen.min() == 0 and sixteen.max() == 255
    frames = tf.io.decode_image(bad_files.animated_gif(), channels=3, expand_animations=False)
    assert frames.shape == (30, 40, 3)  # the first frame, as Transform and serving use


def test_reencoded_files_are_listed_with_the_reason(ingested):
    notes = {n["filename"]: n["note"] for n in ingested["notes"]}
    assert set(notes) == {"train/Robin/tiff_named.jpg", "train/Robin/huge_12000.jpg"}
    assert notes["train/Robin/tiff_named.jpg"].startswith("re-encoded: TIFF RGB as PNG "
                                                          "(TensorFlow cannot decode it")
    assert notes["train/Robin/huge_12000.jpg"].startswith(
        "re-encoded: downscaled from 12000x12000 to 3000x3000 (over the 25.0 MP limit)")
    assert ingested["summary"]["files_reencoded"] == 2
    big = ingested["written"]["train/Robin/huge_12000.jpg"][2]
    assert Image.open(io.BytesIO(big)).size == (3000, 3000)
    assert ingested["report"].get_int_custom_property("files_reencoded") == 2


def test_empty_species_folder_is_a_warning_and_the_species_is_absent(ingested):
    summary = ingested["summary"]
    assert summary["empty_species_folders"] == ["train/Empty Species", "test/Empty Species"]
    assert any("train/Empty Species/ is empty" in w for w in summary["warnings"])
    assert all("Empty Species" not in counts for counts in summary["counts"].values())


def test_non_ascii_and_nested_files_keep_their_names_and_labels(ingested):
    written = ingested["written"]
    assert written["train/Robin/çà_ñoño_鳥.jpg"][:2] == ("train", "Robin")
    assert written["train/Robin/nested/deeper/still/deep.jpg"][:2] == ("train", "Robin")
    assert written["train/Pájaro Ñandú/ñ.jpg"][:2] == ("train", "Pájaro Ñandú")
    assert written["test/Pájaro Ñandú/t.png"][:2] == ("eval", "Pájaro Ñandú")
    assert ingested["summary"]["counts"]["train"]["Pájaro Ñandú"] == 1
    assert "Pájaro Ñandú" in ingested["summary"]["frequency_groups"]


def test_leakage_and_duplicates_are_reported_with_their_files(ingested):
    summary = ingested["summary"]
    (leak,) = summary["leakage"]
    assert leak["files"] == ["test/Crow/leaked.jpg", "train/Crow/c1.jpg"]
    assert leak["splits"] == ["eval", "train"] and leak["species"] == ["Crow"]
    assert leak["sha256"] == hashlib.sha256(
        bad_files.rgb_jpeg(seed=101)).hexdigest()
    (within,) = summary["duplicates_within_split"]
    assert within["files"] == ["train/Crow/c0.jpg", "train/Crow/c0_copy.jpg"]
    assert any("c0_copy.jpg" in w for w in summary["warnings"])
    rows = {(r["kind"], r["filename"]) for r in ingested["duplicates"]}
    assert rows == {("across splits", "test/Crow/leaked.jpg"),
                    ("across splits", "train/Crow/c1.jpg"),
                    ("within split", "train/Crow/c0.jpg"),
                    ("within split", "train/Crow/c0_copy.jpg")}
    assert ingested["report"].get_int_custom_property("leaked_images") == 1


def test_species_whose_files_are_all_rejected_is_a_warning(tmp_path):
    root = tmp_path / "data"
    write(root, "train/Robin/a.jpg", bad_files.rgb_jpeg())
    write(root, "train/Crow/broken.jpg", b"not an image")
    write(root, "test/Robin/t.jpg", bad_files.rgb_jpeg(seed=5))
    write(root, "valid/Robin/v.jpg", bad_files.rgb_jpeg(seed=6))
    _, report = run_executor(tmp_path, root)
    summary = ingest_report.load_summary(report.uri)
    assert "Crow" not in summary["counts"]["train"]
    assert any("all 1 file(s) of species 'Crow' in split 'train' were rejected" in w
               for w in summary["warnings"])


def test_a_small_pixel_limit_downscales_jpegs_and_rejects_other_formats(tmp_path):
    root = tmp_path / "data"
    write(root, "train/Robin/big.jpg", bad_files.rgb_jpeg(size=(400, 300)))
    write(root, "train/Robin/big.png", bad_files.encode(Image.new("RGB", (400, 300)), "PNG"))
    write(root, "test/Robin/small.jpg", bad_files.rgb_jpeg(size=(40, 30)))
    examples, report = run_executor(tmp_path, root, max_pixels=20_000)
    written = read_examples(examples.uri)
    assert set(written) == {"train/Robin/big.jpg", "test/Robin/small.jpg"}
    assert Image.open(io.BytesIO(written["train/Robin/big.jpg"][2])).size == \
        (100, 75)  # 1/4 scale: the first libjpeg scale under 20,000 pixels
    (row,) = read_csv(os.path.join(report.uri, "rejected.csv"))
    assert row["filename"] == "train/Robin/big.png"
    assert row["reason"].startswith("too large: 400x300 (0.1 MP) PNG is over the 0.0 MP limit")


def test_decompression_bomb_is_rejected_not_decoded(tmp_path):
    """Over PIL's limit (~179 MP) an image is rejected from its header alone; a 20000x20000
    grayscale PNG of one colour is a few hundred KB on disk."""
    bomb = bad_files.encode(Image.new("1", (20000, 20000)), "PNG")
    path = write(tmp_path, "train/Robin/bomb.png", bomb)
    status, (_, reason) = check_image(
        listing.ImageFile("train", "Robin", path, "train/Robin/bomb.png"))
    assert status == "rejected" and reason.startswith("too large: ")


def test_a_12000_pixel_jpeg_is_checked_without_decoding_it_in_full(tmp_path):
    """Peak memory of checking a 12000x12000 JPEG, in a fresh process (Linux: the peak is reset
    through /proc/self/clear_refs before each step). Decoding it in full takes ~430 MB
    (TensorFlow, RGB), measured here as the control; the draft-mode downscale a fraction."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak memory")
    path = write(tmp_path, "train/Robin/huge.jpg", bad_files.big_jpeg())
    script = textwrap.dedent(f"""
        import json
        import tensorflow as tf
        from components.image_example_gen import listing
        from components.image_example_gen.image_check import check_image

        def peak_growth(step):
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")  # peak RSS := current RSS
            status = open("/proc/self/status").read()
            rss = int(status.split("VmRSS:")[1].split()[0])
            result = step()
            peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
            return result, (peak - rss) // 1024

        small = listing.ImageFile("train", "Robin", {str(tmp_path / 'small.jpg')!r}, "s.jpg")
        open(small.path, "wb").write({bad_files.rgb_jpeg()!r})
        assert check_image(small)[0] == "ok"  # TensorFlow's decoder warmed up
        big = listing.ImageFile("train", "Robin", {path!r}, "train/Robin/huge.jpg")
        (status, checked), checked_mb = peak_growth(lambda: check_image(big))
        data = open({path!r}, "rb").read()
        _, full_mb = peak_growth(lambda: tf.io.decode_image(data, channels=3).shape)
        print(json.dumps([status, checked.note, checked_mb, full_mb]))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    status, note, checked_mb, full_mb = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\npeak memory: +{checked_mb} MB to check a 12000x12000 JPEG ({note}); "
          f"+{full_mb} MB to decode it in full")
    assert status == "ok" and note.startswith("re-encoded: downscaled from 12000x12000")
    assert full_mb > 400  # the control: the measurement sees a full decode
    assert checked_mb < 120


def test_no_test_split_is_a_clear_error_at_ingestion(tmp_path):
    root = tmp_path / "data"
    write(root, "train/Robin/a.jpg", bad_files.rgb_jpeg())
    with pytest.raises(ValueError, match=r"no test images under .*test/<Species>/"):
        run_executor(tmp_path, root)
