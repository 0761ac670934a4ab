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
import json
import os
from typing import List, Optional, Sequence

from schema.errors import UserError
from schema.features import SPLIT_FOLDERS, TRAIN, VALID
from schema.paths import filesystem, is_remote

CSV_COLUMNS = ("filepaths", "labels", "data set")


class DatasetError(UserError, ValueError):
    """The dataset's layout or CSV index cannot be read as labelled images."""


@dataclasses.dataclass(frozen=True)
class ImageFile:
    split: str     # TFX split name: train, eval or valid
    species: str   # label, spelled as the folder or CSV spells it
    path: str      # absolute path (or URI) to read
    filename: str  # path relative to the dataset root, for tracing errors back
    held_out: bool = False  # a train file held out for validation (carve_validation)

    @property
    def from_train(self) -> bool:
        """In the data's train split (held out for validation or not): the files whose counts
        make the frequency groups."""
        return self.split == TRAIN or self.held_out


def is_hidden(filename: str) -> bool:
    """A file or folder whose name starts with a dot anywhere in its relative path
    (.DS_Store, .thumbnails/...): listed and accounted for, never taken as an image."""
    return any(part.startswith(".") for part in filename.replace("\\", "/").split("/"))


def _species_folders(root: str):
    """(split folder, TFX split, species, species folder) for each species folder under root;
    a stray file beside the species folders has no label and is not one."""
    fs = filesystem(root)
    for folder, split in SPLIT_FOLDERS.items():
        split_dir = os.path.join(root, folder)
        if not fs.isdir(split_dir):
            continue
        for species in sorted(fs.listdir(split_dir)):
            species = species.rstrip("/")
            species_dir = os.path.join(split_dir, species)
            if fs.isdir(species_dir):
                yield folder, split, species, species_dir


def list_folder_layout(root: str) -> List[ImageFile]:
    files = []
    for _, split, species, species_dir in _species_folders(root):
        for dirpath, _, names in filesystem(root).walk(species_dir):
            for name in sorted(names):
                path = os.path.join(dirpath, name)
                files.append(ImageFile(split, species, path, os.path.relpath(path, root)))
    if not any(f.split == TRAIN for f in files):
        raise DatasetError(f"no train/<Species>/ images under {root!r}: expected a folder per "
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
    with filesystem(csv_path).open(csv_path, "r") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{csv_path}: missing column(s) {missing}; expected {CSV_COLUMNS}")
        for line, row in enumerate(reader, start=2):
            empty = [c for c in CSV_COLUMNS if not (row.get(c) or "").strip()]
            if empty:
                raise DatasetError(f"{csv_path}:{line}: no value for {empty}")
            split = SPLIT_FOLDERS.get(row["data set"].strip().lower())
            if split is None:
                raise DatasetError(f"{csv_path}:{line}: unknown data set {row['data set']!r}, "
                                 f"expected one of {sorted(SPLIT_FOLDERS)}")
            rel = row["filepaths"].strip()
            files.append(ImageFile(split, row["labels"].strip(), os.path.join(root, rel), rel))
    return sorted(files, key=lambda f: (f.split, f.species, f.filename))


def held_out_count(size: int, share: float) -> int:
    """How many of a species' `size` train files a carve of `share` moves to validation: the
    share, rounded, keeping at least one for training."""
    return min(size - 1, int(size * share + 0.5))


def carve_validation(files: List[ImageFile], share: float, seed: int = 0) -> List[ImageFile]:
    """Files with a validation split: as they are when the data have one (a valid/ folder, or
    'valid' rows in the CSV index); otherwise `share` of each species' train files, rounded,
    moved to valid (held_out), keeping at least one train file of every species. Which files
    move depends on `seed` and their names only, not on the listing order."""
    if any(f.split == VALID for f in files):
        return files
    if not 0.0 < share < 1.0:
        raise ValueError(f"the validation share must be between 0 and 1, got {share}")
    by_species = {}
    for f in files:
        if f.split == TRAIN and not is_hidden(f.filename):
            by_species.setdefault(f.species, []).append(f)
    chosen = set()
    for species, members in by_species.items():
        count = held_out_count(len(members), share)
        ranked = sorted(members, key=lambda f: hashlib.sha256(
            f"{seed}\0{f.filename}".encode()).hexdigest())
        chosen.update(ranked[:count])
    if not chosen:  # every species too small for its share: one file of the largest
        largest = max(by_species.values(), key=len, default=[])
        if len(largest) < 2:
            raise DatasetError("no file can be held out for validation: every species has a "
                               "single train image; add a valid/<Species>/ folder")
        chosen.add(sorted(largest, key=lambda f: f.filename)[0])
    carved = [dataclasses.replace(f, split=VALID, held_out=True) if f in chosen else f
              for f in files]
    return sorted(carved, key=lambda f: (f.split, f.species, f.filename))


def write_order(files: List[ImageFile], seed: int = 0) -> List[ImageFile]:
    """The files in a seeded pseudo-random order that depends on their names only. Listings
    come sorted by species; written in that order, a split would stream species after species,
    and a bounded shuffle buffer (trainer/data.py) could not mix a large one again."""
    return sorted(files, key=lambda f: hashlib.sha256(
        f"order\0{seed}\0{f.filename}".encode()).hexdigest())


def batch_to_line(batch: Sequence[ImageFile]) -> str:
    """A batch of files as one line of text (JSON): ingestion's Beam pipeline reads its listing
    from a file, one batch a line, rather than holding it in the pipeline's definition."""
    return json.dumps([dataclasses.astuple(f) for f in batch])


def batch_from_line(line: str) -> List[ImageFile]:
    return [ImageFile(*fields) for fields in json.loads(line)]


def write_batches(path: str, files: Sequence[ImageFile], batch_size: int) -> None:
    """`files` in batches of `batch_size`, a line each (batch_to_line), into a new file."""
    filesystem(path).makedirs(os.path.dirname(path))
    with filesystem(path).open(path, "w") as handle:
        handle.write("".join(batch_to_line(files[i:i + batch_size]) + "\n"
                             for i in range(0, len(files), batch_size)))


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
    from tfx.dsl.io import fileio
    if not fileio.exists(path):
        return "missing"
    stat = fileio.stat(path)
    return f"{stat.length}:{stat.mtime_nsec}"
