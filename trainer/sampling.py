"""Class-aware sampling for the Trainer's tf.data pipeline.

`class_weights(counts, mode, quota)` gives the share of each class in the sampled stream:
  natural   as in the data (n_c / N)
  sqrt      square-root sampling (n_c^0.5, normalised): rare classes more often, less than balanced
  balanced  every class equally often (1 / C): class-balanced sampling, as in cRT's second stage
  quota     max(n_c, quota), normalised: the common classes as in the data, the rare ones raised
            to the per-class quota (natural sampling with the rare classes over-sampled)
  auto      quota where the species average at least `quota` train images, else balanced
            (`resolve`, before training: the train counts decide, nothing else)
`sampled(examples_by_class, weights, seed)` draws an endless stream with those shares from one
repeated, shuffled dataset per class (tf.data.Dataset.sample_from_datasets), deterministic
under the seed. An epoch is N images (the train split's size) in every mode, or more where the
species quota asks (trainer/data.py's steps_per_epoch).

When the train split is too big to hold in memory (trainer/data.py's cache budget), the rarest
classes are still held (`in_memory_classes`: rarest first while they fit) and the others are
streamed from disk and thinned (`thinned`): each streamed example is kept with a probability
proportional to its class's weight over its count, so that among the kept examples each class
has its share. The rare classes, drawn over and over, come from memory; the common ones, drawn
less than once an epoch under balanced or square-root sampling, are read and mostly skipped.
"""
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf

from trainer.hparams import SAMPLING  # the flag's choices; the modes below

_POWER = {"natural": 1.0, "sqrt": 0.5, "balanced": 0.0}


def raised_to_quota(counts: Sequence[int], quota: int) -> np.ndarray:
    """Each class's images an epoch under quota sampling: its count, or the quota where that is
    more; 0 for a class with no example."""
    counts = np.asarray(counts, dtype=np.float64)
    return np.where(counts > 0, np.maximum(counts, quota), 0.0)


def resolve(mode: str, counts: Sequence[int], quota: int) -> str:
    """The sampling to train with: `mode` as it is, except auto. Auto is quota sampling where
    the species with train images average at least `quota` of them (`quota` > 0), else
    balanced. Why: where the common species have hundreds of varied images (field data, the
    demo), balanced sampling shows each of them a 1/C share of an epoch, far less than a pass,
    and they are not learnt when training ends; a per-species quota (MEWC's) keeps them as in
    the data and raises only the rare ones. On small sets most species are under the quota
    anyway, and drawing every species equally did better there."""
    if mode != "auto":
        return mode
    return "quota" if 0 < quota <= species_average(counts) else "balanced"


def species_average(counts: Sequence[int]) -> float:
    """Train images a species, over the species that have any (0 when none has)."""
    present = [n for n in counts if n > 0]
    return sum(present) / len(present) if present else 0.0


def class_weights(counts: Sequence[int], mode: str, quota: int = 0) -> np.ndarray:
    """The share of each class in the sampled stream (sums to 1); classes with no example get 0.
    `quota` is read by the quota mode only (0: natural). Auto must be resolved first."""
    if mode not in SAMPLING or mode == "auto":
        raise ValueError(f"unknown sampling {mode!r}; choose one of "
                         f"{', '.join(m for m in SAMPLING if m != 'auto')} (resolve auto first)")
    counts = np.asarray(counts, dtype=np.float64)
    if mode == "quota":
        weights = raised_to_quota(counts, quota)
    else:
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


def in_memory_classes(counts: Sequence[int], bytes_per_example: int, budget: int) -> np.ndarray:
    """Which classes to hold in memory (bool per class): the rarest first, while all their
    examples fit in `budget` bytes. Ties go to the lower class id."""
    held = np.zeros(len(counts), dtype=bool)
    used = 0
    for c in sorted(range(len(counts)), key=lambda c: (counts[c], c)):
        used += counts[c] * bytes_per_example
        if used > budget:
            break
        held[c] = True
    return held


def keep_probabilities(counts: Sequence[int], weights: Sequence[float],
                       streamed: Sequence[bool]) -> np.ndarray:
    """For the streamed classes: the probability of keeping each read example so that the kept
    examples' class shares are proportional to `weights` (p_c = w_c / n_c, the largest 1);
    0 for classes not streamed."""
    counts = np.asarray(counts, np.float64)
    ratio = np.where(np.asarray(streamed) & (counts > 0),
                     np.asarray(weights, np.float64) / np.maximum(counts, 1), 0.0)
    if ratio.max() <= 0:
        return ratio
    return ratio / ratio.max()


def thinned(examples: tf.data.Dataset, keep: Sequence[float], seed: int) -> tf.data.Dataset:
    """An endless stream of (x, label id) examples read pass after pass from `examples`, each
    kept with probability keep[label id]: deterministic under the seed, thinned differently on
    every pass."""
    keep = tf.constant(np.asarray(keep, np.float32))
    uniforms = tf.data.Dataset.random(seed=seed).map(
        lambda r: tf.cast(r % (1 << 24), tf.float32) / float(1 << 24))
    paired = tf.data.Dataset.zip((examples.repeat(), uniforms))
    return paired.filter(lambda xy, u: u < tf.gather(keep, xy[1])).map(lambda xy, u: xy)


def mixed(in_memory: List[Optional[tf.data.Dataset]], streamed: Optional[tf.data.Dataset],
          weights: Sequence[float], seed: int) -> tf.data.Dataset:
    """`sampled` over the classes held in memory (in_memory[c], None for a streamed class) and
    one thinned stream for all the others (already endless; None when every class is held)."""
    streams, shares = [], []
    for c, dataset in enumerate(in_memory):
        if dataset is not None:
            streams.append(dataset)
            shares.append(weights[c])
    streamed_share = float(sum(w for w, d in zip(weights, in_memory) if d is None))
    if streamed is not None and streamed_share > 0:
        streams.append(streamed)
        shares.append(streamed_share)
    return sampled(streams, shares, seed)
