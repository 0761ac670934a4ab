"""components/image_example_gen/executor.py: the real executor on a tiny dataset (Beam
DirectRunner, in memory), and the ingest report it leaves."""
import csv
import os

import pytest
import tensorflow as tf
from tfx.types import artifact_utils

from components.image_example_gen import executor, ingest_report
from tests.support.ingest import (GRAY_JPEG, JPEG, PALETTE_PNG, RGBA_PNG, encode, run_executor,
                                  write, write_csv)


def read_examples(examples_uri, split):
    paths = executor.example_files(os.path.join(examples_uri, f"Split-{split}"))
    assert paths, f"no TFRecord files for split {split}"
    records = tf.data.TFRecordDataset(paths)
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
    summary = ingest_report.load_summary(report.uri)
    assert summary["files_read"] == len(good) + len(bad) == 12
    assert summary["examples_written"] == len(good) == 9
    assert summary["files_rejected"] == len(bad) == 3
    assert summary["files_read"] == summary["examples_written"] + summary["files_rejected"]
    assert summary["rejected_by_reason"] == {"not a decodable image": 1, "empty file": 1,
                                             "hidden file or folder": 1}
    assert summary["frequency_groups"] == GROUPS
    assert summary["group_counts"] == {"Araripe Manakin": 1, "Crow": 2, "Robin": 3}
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
    # No valid/ folder, and every species too small for a 10% share: one file of the largest
    # species is held out for validation. The groups still count it as train (Robin: 3).
    good["train/Robin/a.jpg"] = ("valid", "Robin", GOOD["train/Robin/a.jpg"])
    summary = check_outputs(examples, report, good, BAD, ["train", "eval", "valid"])
    assert summary["counts"]["eval"] == {"Araripe Manakin": 1, "Crow": 1, "Robin": 1}
    assert summary["counts"]["valid"] == {"Robin": 1}
    assert summary["counts"]["train"] == {"Araripe Manakin": 1, "Crow": 2, "Robin": 2}
    assert summary["validation_split"] == "held out from train: 1 files"


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
    assert summary["counts"]["train"] == {"Araripe Manakin": 1, "Crow": 2, "Robin": 3}
    assert summary["validation_split"] == "the data's own valid split"


def test_records_lost_while_writing_fail_the_component(tmp_path):
    """The report counts examples from its own sink; the examples on disk are counted too, so
    a runner that drops records while writing them fails ingestion instead of shrinking the
    test set silently."""
    split_dir = tmp_path / "Split-eval"
    split_dir.mkdir()
    with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001")) as writer:
        for i in range(2):
            writer.write(tf.train.Example().SerializeToString())
    assert executor.count_records(str(split_dir)) == 2
    executor.check_records_on_disk(str(tmp_path), {"eval": 2})
    with pytest.raises(RuntimeError, match="split 'eval': 3 written, 2 on disk"):
        executor.check_records_on_disk(str(tmp_path), {"eval": 3})
    with pytest.raises(RuntimeError, match="split 'train': 1 written, 0 on disk"):
        executor.check_records_on_disk(str(tmp_path), {"eval": 2, "train": 1})
    # A file cut short while writing: the component says so, naming the file.
    path = split_dir / "data_tfrecord-00000-of-00001"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(RuntimeError, match="damaged examples file: .*data_tfrecord-00000-of"
                                           "-00001: record 2 is cut short"):
        executor.check_records_on_disk(str(tmp_path), {"eval": 2})
