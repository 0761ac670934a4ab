"""Builds the paper's dataset from Kaggle's bird species dataset.

The paper took 20 species (Table I), split each 80/20, then cut the train side down to
Table I's counts to make it imbalanced. The images the cut leaves over give a balanced
validation split (VALID_PER_SPECIES a species, fewer where too few are left), on which the
long-tail recipe makes its choices; the paper had none. Kaggle's tree spells species in capitals
(`SORA`, `CARMINE BEE-EATER`); names are matched without regard to case, and the output
uses the paper's spelling so that the curated schema matches.
"""
import csv
import os
import random
import re
import shutil
from typing import Dict, List, Optional

from components.image_example_gen import listing
from pipeline.data.paper import TABLE_I_TRAIN_COUNTS

TEST_FRACTION = 0.2
VALID_PER_SPECIES = 10
# Spellings that differ between the paper's Table I and Kaggle's folders.
ALIASES = {"carmin bee-eater": "Carmine Bee-Eater"}


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name).strip().lower()


PAPER_BY_KEY = {_key(name): name for name in TABLE_I_TRAIN_COUNTS}
PAPER_BY_KEY.update(ALIASES)


def find_kaggle_images(kaggle_root: str, csv_index: Optional[str] = None) -> Dict[str, List[str]]:
    """Paper species name -> every image path of that species in the Kaggle tree, all splits."""
    if csv_index is None and not os.path.isdir(os.path.join(kaggle_root, "train")):
        found = [f for f in os.listdir(kaggle_root) if f.lower().endswith(".csv")]
        if not found:
            raise FileNotFoundError(f"{kaggle_root}: neither train/valid/test folders nor a "
                                    "CSV index (filepaths,labels,data set) found")
        csv_index = sorted(found)[0]
    files = listing.list_dataset(kaggle_root, csv_index)
    images: Dict[str, List[str]] = {}
    for f in files:
        name = PAPER_BY_KEY.get(_key(f.species))
        if name and not listing.is_hidden(f.filename):
            images.setdefault(name, []).append(f.path)
    return {name: sorted(paths) for name, paths in images.items()}


def prepare(kaggle_root: str, out_dir: str, seed: int = 0,
            csv_index: Optional[str] = None) -> Dict:
    """Writes out_dir/{train,test,valid}/<Species>/ and out_dir/manifest.csv; returns a summary."""
    if any(os.path.exists(os.path.join(out_dir, split)) for split in ("train", "test", "valid")):
        raise FileExistsError(f"{out_dir} already holds a dataset; choose an empty folder")
    images = find_kaggle_images(kaggle_root, csv_index)
    missing = [name for name in TABLE_I_TRAIN_COUNTS if name not in images]
    rows, counts, short = [], {}, {}
    for name, want_train in TABLE_I_TRAIN_COUNTS.items():
        if name not in images:
            continue
        paths = list(images[name])
        random.Random(f"{seed}:{name}").shuffle(paths)  # per species: independent of the others
        n_test = max(1, round(len(paths) * TEST_FRACTION))
        test, train = paths[:n_test], paths[n_test:][:want_train]
        valid = paths[n_test + len(train):][:VALID_PER_SPECIES]
        if len(train) < want_train:
            short[name] = (len(train), want_train)
        counts[name] = {"train": len(train), "test": len(test), "valid": len(valid)}
        for split, chosen in (("train", train), ("test", test), ("valid", valid)):
            folder = os.path.join(out_dir, split, name)
            os.makedirs(folder, exist_ok=True)
            for i, path in enumerate(chosen):
                # Kaggle reuses file names across its splits (train/X/1.jpg, test/X/1.jpg).
                target = os.path.join(folder, f"{i:04d}{os.path.splitext(path)[1].lower()}")
                shutil.copyfile(path, target)
                rows.append((os.path.abspath(path), name, split, os.path.relpath(target, out_dir)))
    with open(os.path.join(out_dir, "manifest.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_path", "species", "split", "path"])
        writer.writerows(rows)
    return {"out_dir": out_dir, "counts": counts, "missing": missing, "short": short,
            "n_train": sum(c["train"] for c in counts.values()),
            "n_test": sum(c["test"] for c in counts.values()),
            "n_valid": sum(c["valid"] for c in counts.values())}
