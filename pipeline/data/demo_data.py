"""Synthetic demo dataset: the paper's 20 species as drawn "animals" on cluttered backgrounds.

Each species has a signature = (body shape, texture, colour palette). The 20 species are the
5 x 4 grid of shapes x textures, and each palette is shared by two species with different shapes
and textures, so neither colour, nor shape, nor texture alone separates the classes. Position,
scale, rotation, colour jitter, background gradients, distractors in other species' colours,
pixel noise and blur make every image different, so a species with 2 training images is hard.

How hard that is (learnable, but not by colour alone) is checked by tests/pipeline/
test_demo_data.py; figures are in README, "Results".

Every image is drawn from its own RNG seeded with (seed, species index, split, image index):
output is byte-identical for a seed whatever the order or number of worker processes.
"""
import math
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipeline.data.paper import PAPER_SPECIES, PAPER_TEST_IMAGES, TABLE_I_TRAIN_COUNTS

# Test images a species: 20-60, more for common species, summing to the paper's 677.
DEFAULT_TEST_COUNTS = dict(zip(PAPER_SPECIES, (
    60, 55, 50, 44, 45, 45, 40, 38, 36, 33, 32, 30, 25, 22, 22, 20, 20, 20, 20, 20)))
assert sum(DEFAULT_TEST_COUNTS.values()) == PAPER_TEST_IMAGES

SHAPES = ("ellipse", "triangle", "star", "cross", "bird")
TEXTURES = ("solid", "stripes", "spots", "gradient")
# (primary, secondary) RGB; palette p is used by species 2p and 2p+1.
PALETTES = (
    ((200, 60, 40), (250, 200, 60)),
    ((40, 90, 200), (230, 230, 240)),
    ((60, 160, 60), (30, 40, 30)),
    ((150, 60, 170), (250, 150, 200)),
    ((230, 140, 30), (90, 50, 20)),
    ((40, 170, 180), (250, 240, 120)),
    ((120, 120, 125), (20, 20, 25)),
    ((240, 240, 230), (200, 30, 60)),
    ((110, 80, 40), (200, 170, 120)),
    ((20, 30, 80), (90, 220, 120)),
)
# A split's index seeds its images' RNG: appending a split leaves the others' bytes as they were.
SPLITS = ("train", "test", "valid")
# The default dataset's valid/ folder, balanced like Kaggle's (which has 5 a species): what the
# recipe's choices (best epoch, post-hoc tau, ...) are made on, never the test split.
DEFAULT_VALID_PER_SPECIES = 10


def signature(index):
    """(shape, texture, palette) of the species at `index` in PAPER_SPECIES.

    Shape cycles fastest and texture shifts every 5, so all 20 (shape, texture) pairs occur;
    the two species sharing a palette (2p, 2p+1) differ in both shape and texture."""
    return (SHAPES[index % 5], TEXTURES[(index // 5 + index % 5) % 4], PALETTES[index // 2])


def _outline(shape, rng, n=48):
    """Polygon(s) of a body shape in unit coordinates (radius about 1), before rotation."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if shape == "ellipse":
        return [np.stack([np.cos(t), 0.55 * np.sin(t)], 1)]
    if shape == "triangle":
        a = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return [np.stack([np.cos(a), np.sin(a)], 1)]
    if shape == "star":
        a = np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)]
    if shape == "cross":
        w = 0.3
        return [np.array([[-1, -w], [1, -w], [1, w], [-1, w]]),
                np.array([[-w, -1], [w, -1], [w, 1], [-w, 1]])]
    # "bird": body ellipse + head circle + tail triangle, with a little per-image wobble.
    head = 0.3 + 0.05 * rng.random()
    return [np.stack([0.65 * np.cos(t) - 0.1, 0.38 * np.sin(t)], 1),
            np.stack([head * np.cos(t) + 0.6, head * np.sin(t) - 0.3], 1),
            np.array([[-0.6, 0.0], [-1.05, -0.35], [-1.05, 0.35]])]


def _jitter(colour, rng, amount):
    return np.clip(np.asarray(colour, float) + rng.normal(0, amount, 3), 0, 255)


def _paint_animal(arr, species_index, rng, radius, cx, cy):
    """Paint one animal of the species, in place, onto the float RGB array `arr`."""
    s = arr.shape[0]
    shape, texture, (primary, secondary) = signature(species_index)
    # Body mask: the species' shape at the given scale and a random rotation, flip and stretch.
    rot = rng.uniform(0, 2 * np.pi)
    rmat = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    flip = np.array([1.0, rng.choice([-1.0, 1.0])])
    stretch = rng.uniform(0.8, 1.2, 2)
    mask = Image.new("L", (s, s), 0)
    mdraw = ImageDraw.Draw(mask)
    for poly in _outline(shape, rng):
        pts = (poly * flip * stretch) @ rmat.T * radius + (cx, cy)
        mdraw.polygon([tuple(p) for p in pts], fill=255)

    # Work only inside the body's bounding box (speed).
    x0, y0 = max(0, int(cx - 1.3 * radius)), max(0, int(cy - 1.3 * radius))
    x1, y1 = min(s, int(cx + 1.3 * radius) + 1), min(s, int(cy + 1.3 * radius) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    # Texture coordinates in the body's own frame, so the pattern turns with the body.
    u = ((xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)) / radius
    v = (-(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)) / radius
    if texture == "solid":  # flat colour with soft shading
        mix = np.clip(0.15 + 0.1 * v, 0, 1)
    elif texture == "stripes":  # bands across the body
        mix = (np.sin(u * rng.uniform(9, 14) + rng.uniform(0, 6.3)) > 0).astype(np.float32)
    elif texture == "spots":  # round dots scattered over the body
        mix = np.zeros(u.shape, np.float32)
        for _ in range(rng.integers(6, 12)):
            du, dv = rng.uniform(-0.8, 0.8, 2)
            mix = np.maximum(mix, ((u - du) ** 2 + (v - dv) ** 2 < rng.uniform(0.01, 0.03)))
    else:  # "gradient": primary to secondary along the body's long axis
        mix = np.clip((u + 1) / 2, 0, 1)
    # Palette jittered per animal.
    p, q = _jitter(primary, rng, 18), _jitter(secondary, rng, 18)
    body = p + (q - p) * mix[..., None]
    m = (np.asarray(mask, np.float32)[y0:y1, x0:x1] / 255)[..., None]
    arr[y0:y1, x0:x1] = arr[y0:y1, x0:x1] * (1 - m) + body * m


def _clutter(img, rng, n):
    """Small blobs and bars in the colours of random (usually other) species."""
    s = img.size[0]
    draw = ImageDraw.Draw(img)
    for _ in range(n):
        palette = PALETTES[rng.integers(len(PALETTES))]
        colour = tuple(int(c) for c in _jitter(palette[rng.integers(2)], rng, 20))
        x, y = rng.uniform(0, s, 2)
        w, h = rng.uniform(0.03, 0.16, 2) * s
        if rng.random() < 0.5:
            draw.ellipse([x - w, y - h, x + w, y + h], fill=colour)
        else:
            draw.line([x - w, y - h, x + w, y + h], fill=colour, width=max(1, int(0.03 * s)))


def render(species_index, seed=0, split="train", image_index=0, image_size=224):
    """One image as a PIL RGB image; a pure function of its arguments."""
    rng = np.random.default_rng([seed, species_index, SPLITS.index(split), image_index])
    s = image_size

    # Background: a random two-colour linear gradient, then clutter.
    a = rng.uniform(0, 2 * np.pi)
    t = np.linspace(0, 1, s, dtype=np.float32)
    ramp = (t * math.sin(a))[:, None] + (t * math.cos(a))[None, :]
    ramp = ((ramp - ramp.min()) / (ramp.max() - ramp.min() + 1e-6))[..., None]
    # Muted colours (partly greyed), as in nature photos: the animal's palette stands out
    # somewhat, so colour is a real but weak cue.
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    grey = rng.uniform(0.3, 0.8, (2, 1)).astype(np.float32)
    c0, c1 = (c * (1 - g) + c.mean() * g for c, g in ((c0, grey[0]), (c1, grey[1])))
    img = Image.fromarray((c0 + (c1 - c0) * ramp).astype(np.uint8))
    _clutter(img, rng, rng.integers(3, 8))
    arr = np.asarray(img, np.float32).copy()

    # Sometimes a small decoy animal of another species, so "which shape is there" is not
    # enough: the label belongs to the big one.
    if rng.random() < 0.4:
        other = (species_index + rng.integers(1, len(PAPER_SPECIES))) % len(PAPER_SPECIES)
        _paint_animal(arr, other, rng, rng.uniform(0.08, 0.13) * s, *rng.uniform(0, s, 2))
    radius = rng.uniform(0.2, 0.36) * s
    _paint_animal(arr, species_index, rng, radius, *rng.uniform(0.6 * radius, s - 0.6 * radius, 2))

    # A few occluders in front of the animal.
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    _clutter(img, rng, rng.integers(0, 3))

    # Global lighting change and sensor noise, then sometimes a blur.
    # (Noise is luminance only: half the cost of per-channel noise.)
    arr = np.asarray(img, np.float32) * np.float32(rng.uniform(0.75, 1.2))
    arr += np.float32(rng.uniform(-25, 25))
    arr += rng.standard_normal((s, s, 1), dtype=np.float32) * np.float32(rng.uniform(3, 14))
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * s / 224))
    return out


def _write(task):
    species_index, seed, split, image_index, image_size, path = task
    render(species_index, seed, split, image_index, image_size).save(path, "JPEG", quality=90)


def generate(out_dir, seed=0, image_size=224, train_counts=None, test_counts=None,
             species=None, overwrite=False, workers=None, valid_counts=None,
             scale: int = 1) -> dict:
    """Write out_dir/{train,test,valid}/<Species Name>/<nnnn>.jpg and return a summary of the
    counts.

    species: subset of the paper's species (default: the keys of train_counts, else all 20).
    train_counts / test_counts: name -> count overrides (default Table I and DEFAULT_TEST_COUNTS).
    valid_counts: name -> count; default DEFAULT_VALID_PER_SPECIES each for the default dataset,
    none (no valid/ folder: the pipeline holds out a share of train) when counts are given.
    overwrite: replace existing train/test folders (otherwise refuse, so datasets never mix).
    workers: processes to use (default: all CPUs; 1 = in this process).
    scale: every count times this (4: four times the images, the same long tail): new images
    drawn the same way, not copies, so the data grow as a camera-trap project's would."""
    out_dir = Path(out_dir)
    if scale < 1:
        raise ValueError(f"scale must be 1 or more, got {scale}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    names = list(species or train_counts or test_counts or PAPER_SPECIES)
    unknown = [n for n in names if n not in PAPER_SPECIES]
    if unknown:
        raise ValueError(f"unknown species {unknown}; choose from {list(PAPER_SPECIES)}")
    counts = {}
    for split, given, default in (("train", train_counts, TABLE_I_TRAIN_COUNTS),
                                  ("test", test_counts, DEFAULT_TEST_COUNTS)):
        table = given if given is not None else default
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f"{split}_counts has no count for {missing}")
        counts[split] = {n: int(table[n]) * scale for n in names}
    if valid_counts is None and train_counts is None and test_counts is None:
        valid_counts = {n: DEFAULT_VALID_PER_SPECIES for n in names}
    counts["valid"] = {n: int(c) * scale for n, c in (valid_counts or {}).items() if c}
    if set(counts["valid"]) - set(names):
        raise ValueError(f"valid_counts names species not in {names}")

    existing = [out_dir / split for split in SPLITS if (out_dir / split).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(map(str, existing))} already exists; pass overwrite=True (--overwrite) "
            "to replace it, or choose another output folder")
    for path in existing:
        shutil.rmtree(path)

    tasks = []
    for split in SPLITS:
        for name, n in counts[split].items():
            folder = out_dir / split / name
            folder.mkdir(parents=True, exist_ok=True)
            idx = PAPER_SPECIES.index(name)
            tasks += [(idx, seed, split, i, image_size, str(folder / f"{i:04d}.jpg"))
                      for i in range(n)]

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(workers or cpus or 1, 8)
    # fork, not spawn: spawn re-imports the caller's __main__, which makes the pool hang for
    # unguarded scripts and `python -`. Workers use only numpy and PIL, none of the caller's
    # threads (e.g. TensorFlow's). Daemon processes (e.g. Beam workers) may not have children.
    parallel = (workers > 1 and len(tasks) > 100 and not multiprocessing.current_process().daemon
                and "fork" in multiprocessing.get_all_start_methods())
    if parallel:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for _ in pool.imap_unordered(_write, tasks, chunksize=16):
                pass
    else:
        for task in tasks:
            _write(task)

    return {"out_dir": str(out_dir), "train": counts["train"], "test": counts["test"],
            "valid": counts["valid"], "n_train": sum(counts["train"].values()),
            "n_test": sum(counts["test"].values()), "n_valid": sum(counts["valid"].values())}


def present(data_root) -> bool:
    """Whether a dataset (a train/ folder) is already in data_root."""
    return os.path.isdir(os.path.join(data_root, "train"))
