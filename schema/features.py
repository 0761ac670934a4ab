"""The data contract: what ingestion writes, what Transform and the Trainer read, what the
Evaluator slices by. Every other module imports these names; none repeats them.

No TensorFlow here (the CLI imports this module to build its flags).
"""
import os
from typing import Dict, List

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.pbtxt")

# --- tf.Example features written by ImageExampleGen ------------------------------------------
IMAGE_KEY = "image"                      # the encoded file (JPEG, PNG, GIF, BMP) as read
LABEL_KEY = "species"                    # the species name, spelled as its folder or CSV row
FREQUENCY_GROUP_KEY = "frequency_group"  # every frequency group of the species (multivalent)
FILENAME_KEY = "filename"                # path relative to the data root, to trace errors back
RAW_FEATURES = (IMAGE_KEY, LABEL_KEY, FREQUENCY_GROUP_KEY, FILENAME_KEY)

# --- Transform's outputs and assets ---------------------------------------------------------
PIXELS_KEY = "pixels"          # uint8 RGB [size, size, 3] at model size, serialized
LABEL_ID_KEY = "species_id"    # int64 index into the species vocabulary
SPECIES_VOCAB = "species"      # species names in label-id order
SPECIES_COUNTS = "species_counts"  # the same vocabulary with each species' train count

# --- Splits -------------------------------------------------------------------------------------
# Split folder (or CSV "data set" value) -> TFX split name. `test` becomes `eval`, the name TFX
# components use for the held-out split that the Evaluator reports on.
TRAIN, EVAL, VALID = "train", "eval", "valid"
SPLIT_FOLDERS = {"train": TRAIN, "test": EVAL, "valid": VALID}

# --- Frequency groups -------------------------------------------------------------------------
# From the TRAIN split's per-species counts, ranked ascending with ties broken by name: the
# paper's overlapping groups of the k rarest and k commonest species, and the long-tail
# convention by count.
BOTTOM_K = (2, 5, 10)
TOP_K = (5, 10)
MANY_ABOVE = 100   # many: more than this many train images
FEW_BELOW = 20     # few: fewer than this; medium: FEW_BELOW to MANY_ABOVE


def bottom(k: int) -> str:
    """The group of the k rarest species."""
    return f"bottom_{k}"


def top(k: int) -> str:
    """The group of the k commonest species."""
    return f"top_{k}"


PAPER_GROUPS = tuple(bottom(k) for k in BOTTOM_K) + tuple(top(k) for k in TOP_K)
LONG_TAIL_GROUPS = ("many", "medium", "few")
GROUPS = PAPER_GROUPS + LONG_TAIL_GROUPS  # the schema's frequency_group domain, report order
# Groups whose accuracy the blessing may protect against the baseline (--rare-group).
RARE_GROUPS = tuple(bottom(k) for k in BOTTOM_K) + ("few",)
DEFAULT_RARE_GROUP = bottom(10)
GROUP_LABELS = {
    **{bottom(k): f"{k} rarest species" for k in BOTTOM_K},
    **{top(k): f"{k} most common species" for k in TOP_K},
    "many": f">{MANY_ABOVE} train images",
    "medium": f"{FEW_BELOW}-{MANY_ABOVE} train images",
    "few": f"<{FEW_BELOW} train images",
}


def long_tail_group(train_count: int) -> str:
    """many, medium or few, from a species' train count."""
    if train_count > MANY_ABOVE:
        return "many"
    return "medium" if train_count >= FEW_BELOW else "few"


def frequency_groups(train_counts: Dict[str, int]) -> Dict[str, List[str]]:
    """Every frequency group each species belongs to, from the train split's counts."""
    ranked = sorted(train_counts, key=lambda s: (train_counts[s], s))
    groups = {species: [] for species in ranked}
    for k in BOTTOM_K:
        for species in ranked[:k]:
            groups[species].append(bottom(k))
    for k in TOP_K:
        for species in ranked[-k:]:
            groups[species].append(top(k))
    for species, count in train_counts.items():
        groups[species].append(long_tail_group(count))
    return groups


# --- Images -----------------------------------------------------------------------------------
# Largest image decoded, in pixels (6000x4000, a 24 MP camera frame, passes). A small file can
# declare 12000x12000 pixels, which would cost the decoder ~0.4 GB and a resize far more; the
# model sees at most 224 px a side, so nothing it could use is lost. Ingestion downscales larger
# JPEGs and rejects other formats; the server refuses them with a 4xx.
MAX_IMAGE_PIXELS = 25_000_000
