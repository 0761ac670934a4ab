"""A real (not synthetic) long-tailed image set for the long-tail benchmarks: scikit-learn's
handwritten digits (1,797 8x8 scans of 10 digits, shipped with scikit-learn, nothing downloaded),
cut to a long tail like the held-out set the recipe is judged on: 140 train images for the
commonest digit down to 2 for the rarest (an exponential profile, imbalance 70), 30 test
images a digit, no valid/ folder (the pipeline holds out a share of train). Images are the
scans upscaled to --size pixels (nearest neighbour), as RGB PNGs.

    python benchmarks/digits_lt.py --out out/data/digits_lt
    .venv/bin/rarespecies schema --data-root out/data/digits_lt --output out/data/digits_lt.pbtxt
    .venv/bin/rarespecies sweep --data-root out/data/digits_lt --schema out/data/digits_lt.pbtxt \\
        --image-size 32 --epochs 20 --learning-rate 1e-3 --weights none --repeats 3
    python benchmarks/digits_lt.py --baselines out/data/digits_lt   # the linear models
    python benchmarks/digits_lt.py --out out/data/digits_lt_dev --dev-per-digit 15

`--dev-per-digit N` adds a dev/ folder of up to N scans a digit that are in neither train nor
test (train and test stay as without it): recipe_probe.py scores it beside test, for choosing
a recipe's own settings on images that are neither the validation split nor test. The pipeline
does not read dev/; keep such a set out of the pipeline's data root.

`--baselines` reads a written set back and scores, on its test split, the two models on raw
pixels that the deep pipeline must beat: class-balanced logistic regression and the nearest
class mean (scikit-learn), trained on every train image.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MOST, FEWEST, TEST = 140, 2, 30


def train_counts(classes: int = 10):
    return [int(round(MOST * (FEWEST / MOST) ** (c / (classes - 1)))) for c in range(classes)]


def cut(targets: np.ndarray, seed: int = 0, dev_per_digit: int = 0) -> list:
    """Per digit, {split: scan indices}: TEST test scans, then its train count, seeded; with
    dev_per_digit, also up to that many of the scans left over as "dev" (in neither)."""
    rng = np.random.default_rng(seed)
    splits = []
    for c, want in enumerate(train_counts()):
        index = rng.permutation(np.flatnonzero(targets == c))
        chosen = {"test": index[:TEST], "train": index[TEST:TEST + want]}
        if dev_per_digit:
            chosen["dev"] = index[TEST + want:TEST + want + dev_per_digit]
        splits.append(chosen)
    return splits


def write(out: str, size: int = 32, seed: int = 0, dev_per_digit: int = 0) -> dict:
    from sklearn.datasets import load_digits
    digits = load_digits()
    counts = {}
    for c, chosen in enumerate(cut(digits.target, seed, dev_per_digit)):
        for split, members in chosen.items():
            folder = os.path.join(out, split, NAMES[c])
            os.makedirs(folder, exist_ok=True)
            for i in members:
                pixels = (digits.images[i] * (255 / 16)).astype(np.uint8)
                Image.fromarray(pixels).resize((size, size), Image.NEAREST).convert("RGB").save(
                    os.path.join(folder, f"{i:04d}.png"))
        counts[NAMES[c]] = {"train": len(chosen["train"]), "test": len(chosen["test"])}
    return counts


def read_split(root: str, split: str):
    pixels, labels = [], []
    for c, name in enumerate(NAMES):
        folder = os.path.join(root, split, name)
        for file in sorted(os.listdir(folder)):
            with Image.open(os.path.join(folder, file)) as image:
                pixels.append(np.asarray(image.convert("L"), np.float32).ravel() / 255.0)
            labels.append(c)
    return np.stack(pixels), np.asarray(labels)


def baselines(root: str) -> dict:
    """{model: {"overall": %, "bottom_5": %}} on the test split: bottom_5 is the mean recall
    of the 5 digits with the fewest train images (the pipeline's bottom_5 group)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestCentroid
    x_train, y_train = read_split(root, "train")
    x_test, y_test = read_split(root, "test")
    counts = np.bincount(y_train, minlength=len(NAMES))
    rarest = np.argsort(counts, kind="stable")[:5]
    models = {"class-balanced logistic regression": LogisticRegression(
                  class_weight="balanced", max_iter=2000),
              "nearest class mean": NearestCentroid()}
    out = {}
    for name, model in models.items():
        predicted = model.fit(x_train, y_train).predict(x_test)
        right = predicted == y_test
        out[name] = {"overall": round(100 * right.mean(), 2),
                     "bottom_5": round(100 * np.mean([right[y_test == c].mean()
                                                      for c in rarest]), 2)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="write the set here")
    where.add_argument("--baselines", metavar="ROOT", help="score the linear models on a set")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-per-digit", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    if args.baselines:
        for name, scores in baselines(args.baselines).items():
            print(f"{name:<38} overall {scores['overall']:6.2f}%  5 rarest "
                  f"{scores['bottom_5']:6.2f}%")
        return 0
    if os.path.exists(os.path.join(args.out, "train")):
        print(f"error: {args.out} already holds a dataset", file=sys.stderr)
        return 1
    for name, c in write(args.out, args.size, args.seed, args.dev_per_digit).items():
        print(f"{name:<6} train {c['train']:>4}  test {c['test']:>3}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
