"""Finds the labelled image files of a dataset, before any of them is read.

Two layouts are understood:
  * folder per class: `<root>/<split folder>/<Species Name>/**/<file>`
  * the Kaggle bird dataset's CSV index: columns `filepaths,labels,data set`, paths relative
    to the CSV's folder.
Every file found is listed, hidden ones included, so that ingestion can account for each one
(written or rejected): nothing under the tree disappears without a trace.
"""
import csv
import dataclasses
import hashlib
import os
from typing import List, Optional

from tfx.dsl.io import fileio

from schema.features import SPLIT_FOLDERS, TRAIN, is_remote

CSV_COLUMNS = ("filepaths", "labels", "data set")


@dataclasses.dataclass(frozen=True)
class ImageFile:
    split: str     # TFX split name: train, eval or valid
    species: str   # label, spelled as the folder or CSV spells it
    path: str      # absolute path (or URI) to read
    filename: str  # path relative to the dataset root, for tracing errors back


def is_hidden(filename: str) -> bool:
    """A file or folder whose name starts with a dot anywhere in its relative path
    (.DS_Store, .thumbnails/...): listed and accounted for, never taken as an image."""
    return any(part.startswith(".") for part in filename.replace("\\", "/").split("/"))


def _species_folders(root: str):
    """(split folder, TFX split, species, species folder) for each species folder under root;
    a stray file beside the species folders has no label and is not one."""
    for folder, split in SPLIT_FOLDERS.items():
        split_dir = os.path.join(root, folder)
        if not fileio.isdir(split_dir):
            continue
        for species in sorted(fileio.listdir(split_dir)):
            species = species.rstrip("/")
            species_dir = os.path.join(split_dir, species)
            if fileio.isdir(species_dir):
                yield folder, split, species, species_dir


def list_folder_layout(root: str) -> List[ImageFile]:
    files = []
    for _, split, species, species_dir in _species_folders(root):
        for dirpath, _, names in fileio.walk(species_dir):
            for name in sorted(names):
                path = os.path.join(dirpath, name)
                files.append(ImageFile(split, species, path, os.path.relpath(path, root)))
    if not any(f.split == TRAIN for f in files):
        raise ValueError(f"no train/<Species>/ images under {root!r}: expected a folder per "
                         "species under train/ and test/ (or pass the Kaggle CSV index)")
    return sorted(files, key=lambda f: (f.split, f.species, f.filename))


def empty_species_folders(root: str, files: List[ImageFile]) -> List[str]:
    """`<split folder>/<Species>` folders (relative to root) in which the listing `files` found
    no file: the species is absent from that split, which ingestion reports as a warning."""
    listed = {(f.split, f.species) for f in files}
    return [f"{folder}/{species}" for folder, split, species, _ in _species_folders(root)
            if (split, species) not in listed]


def list_csv_index(csv_path: str) -> List[ImageFile]:
    root = os.path.dirname(csv_path)
    files = []
    with fileio.open(csv_path, "r") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {missing}; expected {CSV_COLUMNS}")
        for line, row in enumerate(reader, start=2):
            empty = [c for c in CSV_COLUMNS if not (row.get(c) or "").strip()]
            if empty:
                raise ValueError(f"{csv_path}:{line}: no value for {empty}")
            split = SPLIT_FOLDERS.get(row["data set"].strip().lower())
            if split is None:
                raise ValueError(f"{csv_path}:{line}: unknown data set {row['data set']!r}, "
                                 f"expected one of {sorted(SPLIT_FOLDERS)}")
            rel = row["filepaths"].strip()
            files.append(ImageFile(split, row["labels"].strip(), os.path.join(root, rel), rel))
    return sorted(files, key=lambda f: (f.split, f.species, f.filename))


def list_dataset(input_base: str, csv_index: Optional[str] = None) -> List[ImageFile]:
    if csv_index:
        return list_csv_index(os.path.join(input_base, csv_index))
    return list_folder_layout(input_base)


def fingerprint(input_base: str, csv_index: Optional[str] = None) -> str:
    """A digest of every listed file's path, size and mtime: changes when the data change,
    so the pipeline cache is not reused for edited data. Cheap: reads no image."""
    digest = hashlib.sha256()
    for f in list_dataset(input_base, csv_index):
        digest.update(f"{f.split}\0{f.species}\0{f.filename}\0{_size_and_mtime(f.path)}\n"
                      .encode())
    return digest.hexdigest()


def _size_and_mtime(path: str) -> str:
    if not is_remote(path):
        # TensorFlow's stat rounds local mtimes to whole seconds; os.stat keeps nanoseconds,
        # so a same-size edit within a second still changes the fingerprint.
        try:
            stat = os.stat(path)
        except OSError:
            return "missing"
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    if not fileio.exists(path):
        return "missing"
    stat = fileio.stat(path)
    return f"{stat.length}:{stat.mtime_nsec}"
