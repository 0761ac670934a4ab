"""components/image_example_gen/listing.py: the files of a dataset (folders or the Kaggle CSV
index) and their fingerprint."""
import os

import pytest

from components.image_example_gen import listing
from tests.support.ingest import JPEG, RGBA_PNG, write, write_csv


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


def listed(counts, split="train"):
    return [listing.ImageFile(split, species, f"/d/{split}/{species}/{i}.jpg",
                              f"{split}/{species}/{i}.jpg")
            for species, n in counts.items() for i in range(n)]


def test_carve_validation_is_stratified_seeded_and_keeps_a_train_image():
    files = listed({"Sora": 248, "Puffin": 70, "Black Skimmer": 29, "Robin": 4, "Manakin": 2})
    files += listed({"Sora": 5, "Robin": 5}, split="eval")
    carved = listing.carve_validation(files, share=0.1, seed=0)
    valid = [f for f in carved if f.split == "valid"]
    per_species = {s: sum(f.species == s for f in valid) for s in ("Sora", "Puffin",
                                                                   "Black Skimmer", "Robin",
                                                                   "Manakin")}
    assert per_species == {"Sora": 25, "Puffin": 7, "Black Skimmer": 3, "Robin": 0, "Manakin": 0}
    assert all(f.held_out and f.from_train for f in valid)
    # Disjoint from train and test, and nothing lost.
    assert sorted(f.filename for f in carved) == sorted(f.filename for f in files)
    train = {f.filename for f in carved if f.split == "train"}
    assert not train & {f.filename for f in valid}
    assert [f.split for f in carved if f.filename.startswith("eval/")] == ["eval"] * 10
    # Seeded: the same choice for the same seed whatever the listing order, another for another.
    again = listing.carve_validation(list(reversed(files)), share=0.1, seed=0)
    assert {f.filename for f in again if f.split == "valid"} == {f.filename for f in valid}
    other = listing.carve_validation(files, share=0.1, seed=1)
    assert {f.filename for f in other if f.split == "valid"} != {f.filename for f in valid}


def test_carve_validation_keeps_the_datas_own_valid_split():
    files = listed({"Sora": 50}) + listed({"Sora": 3}, split="valid")
    assert listing.carve_validation(files, share=0.5) == files


def test_carve_validation_needs_a_species_with_two_images():
    with pytest.raises(listing.DatasetError, match="add a valid/<Species>/ folder"):
        listing.carve_validation(listed({"Sora": 1, "Robin": 1}), share=0.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        listing.carve_validation(listed({"Sora": 10}), share=0.0)


def test_a_batch_of_files_survives_its_line_of_text():
    batch = [listing.ImageFile("train", "Bird, \"Spotted\" / Æ", "/data/a b/ü.jpg", "train/x.jpg"),
             listing.ImageFile("valid", "Owl", "gs://bucket/o\nwl.png", "train/o.png", True),
             listing.ImageFile("eval", "Owl", "/d/1.jpg", "test/Owl/1.jpg")]
    line = listing.batch_to_line(batch)
    assert "\n" not in line  # one batch, one line of the listing file
    assert listing.batch_from_line(line) == batch
    assert listing.batch_from_line(listing.batch_to_line([])) == []


def test_batches_are_written_a_line_each(tmp_path):
    files = [listing.ImageFile("train", "Owl", f"/d/{i}.jpg", f"train/Owl/{i}.jpg")
             for i in range(7)]
    path = str(tmp_path / "work" / "listing.jsonl")
    listing.write_batches(path, files, 3)
    lines = open(path).read().splitlines()
    assert [listing.batch_from_line(line) for line in lines] == [files[:3], files[3:6], files[6:]]
