"""components/image_example_gen: listing, frequency groups, the per-file check, and the real
executor on a tiny dataset (Beam DirectRunner, in memory)."""
import csv
import glob
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tfx.types import artifact_utils

from components.image_example_gen import executor, listing
from tests.ingest_helpers import run_executor, write
from pipeline.paper import TABLE_I_TRAIN_COUNTS


# ---------------------------------------------------------------------------------------------
# helpers

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


# ---------------------------------------------------------------------------------------------
# frequency groups

def members(groups, name):
    return {species for species, gs in groups.items() if name in gs}


def test_frequency_groups_on_table_i():
    groups = listing.frequency_groups(TABLE_I_TRAIN_COUNTS)
    assert set(groups) == set(TABLE_I_TRAIN_COUNTS)
    assert members(groups, "bottom_2") == {"Araripe Manakin", "Robin"}
    # Crow and Quetzal tie at 6: both are in bottom_5 either way, with Razorbill (8).
    assert members(groups, "bottom_5") == {"Araripe Manakin", "Robin", "Crow", "Quetzal",
                                           "Razorbill"}
    assert members(groups, "bottom_10") == {
        "Araripe Manakin", "Robin", "Crow", "Quetzal", "Razorbill", "Carmine Bee-Eater",
        "Javan Magpie", "Black Skimmer", "Puffin", "Snowy Owl"}
    # Shoebill and Glossy Ibis tie at 148; ascending rank with ties by name puts Glossy Ibis
    # first (lower rank), so Shoebill is in the top 5 and Glossy Ibis is not.
    assert members(groups, "top_5") == {"Sora", "House Finch", "Wood Duck", "Northern Parula",
                                        "Shoebill"}
    assert members(groups, "top_10") == {
        "Sora", "House Finch", "Wood Duck", "Northern Parula", "Shoebill", "Glossy Ibis",
        "Common Poorwill", "Peacock", "Ostrich", "Palila"}
    assert members(groups, "many") == {s for s, n in TABLE_I_TRAIN_COUNTS.items() if n > 100}
    assert members(groups, "medium") == {"Snowy Owl", "Puffin", "Black Skimmer"}
    assert members(groups, "few") == {"Javan Magpie", "Carmine Bee-Eater", "Razorbill",
                                      "Quetzal", "Crow", "Robin", "Araripe Manakin"}
    # Exactly one long-tail group each; the paper's groups overlap.
    for species, gs in groups.items():
        assert sum(g in ("many", "medium", "few") for g in gs) == 1, species
    assert groups["Araripe Manakin"] == ["bottom_2", "bottom_5", "bottom_10", "few"]
    assert groups["Sora"] == ["top_5", "top_10", "many"]
    assert groups["Glossy Ibis"] == ["top_10", "many"]


def test_frequency_groups_tie_broken_by_name_not_insertion_order():
    forward = listing.frequency_groups({"Zebra": 5, "Aardvark": 5, "Yak": 1})
    backward = listing.frequency_groups({"Aardvark": 5, "Yak": 1, "Zebra": 5})
    assert forward == backward
    # Ranked ascending: Yak (1), Aardvark (5), Zebra (5).
    assert members(forward, "bottom_2") == {"Yak", "Aardvark"}


@pytest.mark.parametrize("count, group", [(101, "many"), (100, "medium"), (20, "medium"),
                                          (19, "few"), (1, "few")])
def test_long_tail_boundaries(count, group):
    groups = listing.frequency_groups({"A": count, "B": 50})
    assert [g for g in groups["A"] if g in ("many", "medium", "few")] == [group]


def test_frequency_groups_with_fewer_species_than_k():
    groups = listing.frequency_groups({"A": 1, "B": 2, "C": 3})
    assert groups["A"] == ["bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "few"]
    assert groups["C"] == ["bottom_5", "bottom_10", "top_5", "top_10", "few"]
    assert listing.frequency_groups({}) == {}


# ---------------------------------------------------------------------------------------------
# listing

def test_list_folder_layout(tmp_path):
    root = str(tmp_path)
    write(root, "train/Robin/a.jpg", JPEG)
    write(root, "train/Robin/nested/deeper/b.jpg", JPEG)
    write(root, "train/Robin/.DS_Store", b"\0\0")
    write(root, "train/Glossy Ibis/c.png", RGBA_PNG)
    write(root, "train/README.txt", b"stray file beside the species folders")
    write(root, "test/Robin/t.jpg", JPEG)
    write(root, "valid/Robin/v.jpg", JPEG)
    write(root, "other/Robin/x.jpg", JPEG)  # not a split folder
    files = listing.list_folder_layout(root)
    got = [(f.split, f.species, f.filename) for f in files]
    assert got == [
        ("eval", "Robin", "test/Robin/t.jpg"),
        ("train", "Glossy Ibis", "train/Glossy Ibis/c.png"),
        ("train", "Robin", "train/Robin/.DS_Store"),
        ("train", "Robin", "train/Robin/a.jpg"),
        ("train", "Robin", "train/Robin/nested/deeper/b.jpg"),
        ("valid", "Robin", "valid/Robin/v.jpg"),
    ]
    for f in files:
        assert f.path == os.path.join(root, f.filename)
        assert os.path.isfile(f.path)
    assert listing.list_dataset(root) == files
    assert listing.list_dataset(root, "") == files


def test_list_folder_layout_without_train_raises(tmp_path):
    write(str(tmp_path), "test/Robin/t.jpg", JPEG)
    with pytest.raises(ValueError, match=r"train/") as info:
        listing.list_folder_layout(str(tmp_path))
    assert str(tmp_path) in str(info.value)
    assert "CSV" in str(info.value)


def test_list_folder_layout_train_with_only_stray_files_raises(tmp_path):
    write(str(tmp_path), "train/a.jpg", JPEG)  # no species folder: no label
    with pytest.raises(ValueError, match="train/"):
        listing.list_folder_layout(str(tmp_path))


def write_csv(path, rows, header=("class id", "filepaths", "labels", "data set",
                                  "scientific name")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_list_csv_index(tmp_path):
    root = str(tmp_path)
    write(root, "train/ROBIN/1.jpg", JPEG)
    write_csv(os.path.join(root, "birds.csv"), [
        (0, "train/ROBIN/1.jpg", "ROBIN", "train", "Turdus migratorius"),
        (0, "test/ROBIN/2.jpg", "ROBIN", "test", "Turdus migratorius"),
        (1, "valid/CROW/3.jpg", " CROW ", "VALID", "Corvus"),  # case and spaces are tolerated
    ])
    files = listing.list_csv_index(os.path.join(root, "birds.csv"))
    assert [(f.split, f.species, f.filename, f.path) for f in files] == [
        ("eval", "ROBIN", "test/ROBIN/2.jpg", os.path.join(root, "test/ROBIN/2.jpg")),
        ("train", "ROBIN", "train/ROBIN/1.jpg", os.path.join(root, "train/ROBIN/1.jpg")),
        ("valid", "CROW", "valid/CROW/3.jpg", os.path.join(root, "valid/CROW/3.jpg")),
    ]
    assert listing.list_dataset(root, "birds.csv") == files


def test_list_csv_index_missing_column(tmp_path):
    path = str(tmp_path / "birds.csv")
    write_csv(path, [("a.jpg", "ROBIN")], header=("filepaths", "labels"))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['data set'\]") as info:
        listing.list_csv_index(path)
    assert path in str(info.value)


def test_list_csv_index_unknown_data_set(tmp_path):
    path = str(tmp_path / "birds.csv")
    write_csv(path, [(0, "a.jpg", "ROBIN", "train", "x"), (0, "b.jpg", "ROBIN", "holdout", "x")])
    # Line 3: the header is line 1.
    with pytest.raises(ValueError, match=r"birds\.csv:3: unknown data set 'holdout'") as info:
        listing.list_csv_index(path)
    assert "test" in str(info.value) and "train" in str(info.value)


def test_list_csv_index_short_row(tmp_path):
    path = str(tmp_path / "birds.csv")
    with open(path, "w") as handle:
        handle.write("filepaths,labels,data set\na.jpg,ROBIN,train\nb.jpg,ROBIN\n")
    with pytest.raises(ValueError, match=r"birds\.csv:3"):
        listing.list_csv_index(path)


def test_fingerprint(tmp_path):
    root = str(tmp_path)
    a = write(root, "train/Robin/a.jpg", JPEG)
    write(root, "test/Robin/t.jpg", JPEG)
    first = listing.fingerprint(root)
    assert len(first) == 64
    assert listing.fingerprint(root) == first  # stable
    os.utime(a)  # touching alone keeps size; mtime is part of the digest though
    base = listing.fingerprint(root)

    with open(a, "ab") as handle:  # content and size change
        handle.write(b"\0")
    grown = listing.fingerprint(root)
    assert grown != base
    assert listing.fingerprint(root) == grown

    write(root, "train/Robin/b.jpg", JPEG)  # a file added
    added = listing.fingerprint(root)
    assert added != grown
    os.remove(os.path.join(root, "train/Robin/b.jpg"))  # and removed again
    assert listing.fingerprint(root) == grown

    os.rename(os.path.join(root, "train/Robin"), os.path.join(root, "train/Crow"))  # relabelled
    assert listing.fingerprint(root) != grown


@pytest.mark.parametrize("first_ns, second_ns", [
    (1_700_000_000_000_000_000, 1_700_000_002_000_000_000),  # seconds apart
    (1_700_000_000_100_000_000, 1_700_000_000_600_000_000),  # within one second
], ids=["new_mtime", "within_one_second"])
def test_fingerprint_same_size_edit(tmp_path, first_ns, second_ns):
    root = str(tmp_path)
    a = write(root, "train/Robin/a.jpg", b"aaaa")
    os.utime(a, ns=(first_ns, first_ns))
    before = listing.fingerprint(root)
    write(root, "train/Robin/a.jpg", b"bbbb")
    os.utime(a, ns=(second_ns, second_ns))
    assert listing.fingerprint(root) != before


# ---------------------------------------------------------------------------------------------
# check_image

@pytest.mark.parametrize("name, data", [("rgb.jpg", JPEG), ("gray.jpg", GRAY_JPEG),
                                        ("rgba.png", RGBA_PNG), ("palette.png", PALETTE_PNG)],
                         ids=["rgb_jpeg", "gray_jpeg", "rgba_png", "palette_png"])
def test_check_image_ok(tmp_path, name, data):
    path = write(str(tmp_path), name, data)
    status, checked = executor.check_image(image_file(path))
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
    assert executor.check_image(image_file(path)) == ("rejected", (image_file(path), reason))


def test_check_image_rejects_files_in_hidden_folders(tmp_path):
    path = write(str(tmp_path), "train/Robin/.thumbnails/a.jpg", JPEG)
    hidden = listing.ImageFile("train", "Robin", path, "train/Robin/.thumbnails/a.jpg")
    assert executor.check_image(hidden) == ("rejected", (hidden, "hidden file or folder"))


@pytest.mark.parametrize("name, data", [("text.jpg", b"this is not an image\n"),
                                        ("truncated.jpg", TRUNCATED_JPEG)],
                         ids=["text", "truncated_jpeg"])
def test_check_image_not_decodable(tmp_path, name, data):
    path = write(str(tmp_path), name, data)
    status, (f, reason) = executor.check_image(image_file(path))
    assert status == "rejected"
    assert f == image_file(path)
    assert reason.startswith("not a decodable image: ")
    assert "\n" not in reason


def test_check_image_unreadable(tmp_path):
    os.makedirs(tmp_path / "folder.jpg")  # a folder named like a file
    status, (_, reason) = executor.check_image(image_file(tmp_path / "folder.jpg"))
    assert status == "rejected"
    assert reason.startswith("unreadable: ")


# ---------------------------------------------------------------------------------------------
# the executor, end to end on a tiny dataset


def read_examples(examples_uri, split):
    paths = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
    assert paths, f"no TFRecord files for split {split}"
    records = tf.data.TFRecordDataset(paths, compression_type="GZIP")
    out = {}
    for record in records.as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        features = example.features.feature
        assert set(features) == {"image", "species", "frequency_group", "filename"}
        filename = features["filename"].bytes_list.value[0].decode()
        assert filename not in out
        out[filename] = {
            "image": list(features["image"].bytes_list.value),
            "species": [v.decode() for v in features["species"].bytes_list.value],
            "frequency_group": [v.decode() for v in features["frequency_group"].bytes_list.value],
        }
    return out


# Train counts of the good files below: Araripe Manakin 1, Crow 2, Robin 3.
GROUPS = {
    "Araripe Manakin": ["bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "few"],
    "Crow": ["bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "few"],
    "Robin": ["bottom_5", "bottom_10", "top_5", "top_10", "few"],
}
GOOD = {
    "train/Robin/a.jpg": JPEG,
    "train/Robin/b.png": RGBA_PNG,
    "train/Robin/c.jpg": GRAY_JPEG,
    "train/Crow/a.jpg": encode("RGB", color=(1, 2, 3)),
    "train/Crow/nested/b.png": PALETTE_PNG,
    "train/Araripe Manakin/a.png": encode("RGB", color=(9, 9, 9), fmt="PNG"),
    "test/Robin/t.jpg": encode("RGB", size=(3, 7)),
    "test/Crow/t.png": encode("L", fmt="PNG"),
    "test/Araripe Manakin/t.jpg": encode("L", color=30),
}
BAD = {  # filename -> (split, species, data, reason or reason prefix)
    "train/Crow/corrupt.jpg": ("train", "Crow", b"<html>not found</html>",
                               "not a decodable image: "),
    "train/Robin/empty.jpg": ("train", "Robin", b"", "empty file"),
    "train/Araripe Manakin/.DS_Store": ("train", "Araripe Manakin", b"\0\0\0\1Bud1",
                                        "hidden file or folder"),
}


def check_outputs(examples, report, good, bad, splits):
    summary = executor.load_summary(report.uri)
    assert summary["files_read"] == len(good) + len(bad) == 12
    assert summary["examples_written"] == len(good) == 9
    assert summary["files_rejected"] == len(bad) == 3
    assert summary["files_read"] == summary["examples_written"] + summary["files_rejected"]
    assert summary["rejected_by_reason"] == {"not a decodable image": 1, "empty file": 1,
                                             "hidden file or folder": 1}
    assert summary["frequency_groups"] == GROUPS
    counts = summary["counts"]
    assert counts["train"] == {"Araripe Manakin": 1, "Crow": 2, "Robin": 3}
    assert report.get_int_custom_property("files_read") == 12
    assert report.get_int_custom_property("examples_written") == 9
    assert report.get_int_custom_property("files_rejected") == 3
    assert sorted(os.listdir(report.uri)) == ["duplicates.csv", "notes.csv", "rejected.csv",
                                              "summary.json"]  # _beam removed

    with open(os.path.join(report.uri, "rejected.csv"), newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["split", "species", "filename", "reason"]
    assert len(rows) == 1 + len(bad)
    by_name = {row[2]: row for row in rows[1:]}
    assert set(by_name) == set(bad)
    for filename, (split, species, _, reason) in bad.items():
        row = by_name[filename]
        assert row[:2] == [split, species]
        assert row[3].startswith(reason) if reason.endswith(": ") else row[3] == reason

    assert artifact_utils.decode_split_names(examples.split_names) == splits
    assert sorted(os.listdir(examples.uri)) == sorted(f"Split-{s}" for s in splits)
    found = {}
    for split in splits:
        for filename, features in read_examples(examples.uri, split).items():
            found[filename] = (split, features)
    assert set(found) == set(good)
    for filename, (split, species, data) in good.items():
        got_split, features = found[filename]
        assert got_split == split, filename
        assert features["image"] == [data], filename
        assert features["species"] == [species], filename
        assert features["frequency_group"] == GROUPS[species], filename
    return summary


def species_of(filename):
    return filename.split("/")[1]


def test_executor_folder_layout(tmp_path):
    root = str(tmp_path / "data")
    for filename, data in GOOD.items():
        write(root, filename, data)
    for filename, (_, _, data, _) in BAD.items():
        write(root, filename, data)
    write(root, "train/notes.txt", b"a stray file: not listed, not counted")
    examples, report = run_executor(tmp_path, root)
    split_of = {"train": "train", "test": "eval"}
    good = {f: (split_of[f.split("/")[0]], species_of(f), d) for f, d in GOOD.items()}
    summary = check_outputs(examples, report, good, BAD, ["train", "eval"])
    assert summary["counts"]["eval"] == {"Araripe Manakin": 1, "Crow": 1, "Robin": 1}


def test_executor_csv_layout(tmp_path):
    root = str(tmp_path / "data")
    # Kaggle's layout: images anywhere under the CSV's folder; the CSV decides split and label.
    split_of = {"test/Robin/t.jpg": "valid"}
    rows, good = [], {}
    for i, (filename, data) in enumerate(GOOD.items()):
        rel = "images/" + filename.replace("/", "_").replace(" ", "_")
        write(root, rel, data)
        data_set = split_of.get(filename, filename.split("/")[0])
        rows.append((i, rel, species_of(filename), data_set, "sci"))
        good[rel] = ({"test": "eval"}.get(data_set, data_set), species_of(filename), data)
    bad = {}
    for filename, (split, species, data, reason) in BAD.items():
        rel = "images/" + os.path.basename(filename) if reason == "hidden file or folder" else \
            "images/bad_" + os.path.basename(filename)
        write(root, rel, data)
        rows.append((99, rel, species, split, "sci"))
        bad[rel] = (split, species, data, reason)
    write_csv(os.path.join(root, "birds.csv"), rows)
    examples, report = run_executor(tmp_path, root, csv_index="birds.csv")
    summary = check_outputs(examples, report, good, bad, ["train", "eval", "valid"])
    assert summary["counts"]["eval"] == {"Araripe Manakin": 1, "Crow": 1}
    assert summary["counts"]["valid"] == {"Robin": 1}


def test_records_lost_while_writing_fail_the_component(tmp_path):
    """The report counts examples from its own sink; the examples on disk are counted too, so
    a runner that drops records while writing them fails ingestion instead of shrinking the
    test set silently."""
    split_dir = tmp_path / "Split-eval"
    split_dir.mkdir()
    with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001.gz"),
                              options="GZIP") as writer:
        for i in range(2):
            writer.write(tf.train.Example().SerializeToString())
    assert executor.count_records(str(split_dir)) == 2
    executor.check_records_on_disk(str(tmp_path), {"eval": 2})
    with pytest.raises(RuntimeError, match="split 'eval': 3 written, 2 on disk"):
        executor.check_records_on_disk(str(tmp_path), {"eval": 3})
    with pytest.raises(RuntimeError, match="split 'train': 1 written, 0 on disk"):
        executor.check_records_on_disk(str(tmp_path), {"eval": 2, "train": 1})
