"""Class-aware sampling for the Trainer's tf.data pipeline.

`class_weights(counts, mode)` gives the share of each class in the sampled stream:
  natural   as in the data (n_c / N)
  sqrt      square-root sampling (n_c^0.5, normalised): rare classes more often, less than balanced
  balanced  every class equally often (1 / C): class-balanced sampling, as in cRT's second stage
`sampled(examples_by_class, weights, seed)` draws an endless stream with those shares from one
repeated, shuffled dataset per class (tf.data.Dataset.sample_from_datasets), deterministic
under the seed. An epoch stays N images (the train split's size) whatever the mode, so every
mode has the same budget.
"""
from typing import List, Sequence

import numpy as np
import tensorflow as tf

SAMPLING = ("natural", "sqrt", "balanced")
_POWER = {"natural": 1.0, "sqrt": 0.5, "balanced": 0.0}


def class_weights(counts: Sequence[int], mode: str) -> np.ndarray:
    """The share of each class in the sampled stream (sums to 1); classes with no example get 0."""
    if mode not in _POWER:
        raise ValueError(f"unknown sampling {mode!r}; choose one of {', '.join(SAMPLING)}")
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.where(counts > 0, counts ** _POWER[mode], 0.0)
    if weights.sum() <= 0:
        raise ValueError("no class has any example to sample")
    return weights / weights.sum()


def sampled(per_class: List[tf.data.Dataset], weights: Sequence[float],
            seed: int) -> tf.data.Dataset:
    """An endless stream drawing from `per_class[c]` with probability `weights[c]`; each class
    dataset is shuffled (reshuffled on each pass) and repeated."""
    streams = [ds.shuffle(4096, seed=seed + c, reshuffle_each_iteration=True).repeat()
               for c, ds in enumerate(per_class)]
    kept = [(s, float(w)) for s, w in zip(streams, weights) if w > 0]
    return tf.data.Dataset.sample_from_datasets([s for s, _ in kept], [w for _, w in kept],
                                                seed=seed, stop_on_empty_dataset=False)
