"""Choices made after training, on the validation split only (NumPy; the exported model applies
them, see export.py):

  * post-hoc logit adjustment (Menon et al. 2021): log p - tau * log prior, which divides each
    class's probability by its train share to the power tau;
  * prototype scores: cosine similarity of the model's embedding to each species' mean train
    embedding (nearest class mean, Kang et al. 2020), as log-probabilities
    log softmax(PROTOTYPE_SCALE * cos), mixed with the model's by a weight;
  * which classifier layer to keep (the trained one, or the one re-trained on balanced batches).

Each is picked by macro-F1 over species on the validation split, on a grid; ties go to the
smaller change (tau nearer 0, smaller weight).
"""
import dataclasses
from typing import Optional, Sequence

import numpy as np

# Negative taus multiply by the prior instead: they give back to common species what
# class-balanced sampling took from them.
TAUS = tuple(np.round(np.arange(-1.0, 2.01, 0.25), 2))
PROTOTYPE_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
PROTOTYPE_SCALE = 10.0  # cosine similarities (in [-1, 1]) to logits
_EPS = 1e-7


@dataclasses.dataclass(frozen=True)
class Adjustment:
    tau: float = 0.0
    prototype_weight: float = 0.0
    validation_f1: Optional[float] = None  # macro-F1 on the validation split with these values


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Macro-averaged F1 over the classes present in `labels` (the standard F1, 2PR/(P+R); a
    class never predicted and never present is left out)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    scores = []
    for c in range(num_classes):
        true_positive = np.sum((labels == c) & (predictions == c))
        support, predicted = np.sum(labels == c), np.sum(predictions == c)
        if support == 0:
            continue
        scores.append(0.0 if true_positive == 0 else 2 * true_positive / (support + predicted))
    return float(np.mean(scores)) if scores else 0.0


def log_prior(counts: Sequence[int]) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return np.log(counts / counts.sum())


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


def normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def prototypes(embeddings: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Each class's mean L2-normalised embedding, normalised: [num_classes, dim]. A class
    without examples gets a zero prototype (its prototype score is then uniform)."""
    embeddings = normalise(np.asarray(embeddings, dtype=np.float64))
    result = np.zeros((num_classes, embeddings.shape[1]))
    for c in range(num_classes):
        members = embeddings[np.asarray(labels) == c]
        if len(members):
            result[c] = normalise(members.mean(axis=0))
    return result


def prototype_log_probs(embeddings: np.ndarray, class_prototypes: np.ndarray) -> np.ndarray:
    cosine = normalise(np.asarray(embeddings, dtype=np.float64)) @ class_prototypes.T
    return log_softmax(PROTOTYPE_SCALE * cosine)


def adjusted_log_scores(probabilities: np.ndarray, counts: Sequence[int], tau: float,
                        prototype_log: Optional[np.ndarray] = None,
                        prototype_weight: float = 0.0) -> np.ndarray:
    """(1 - w) * (log p - tau * log prior) + w * prototype log-probabilities (unnormalised)."""
    scores = np.log(np.clip(probabilities, _EPS, 1.0)) - tau * log_prior(counts)
    if prototype_weight:
        scores = (1.0 - prototype_weight) * scores + prototype_weight * prototype_log
    return scores


def fit(probabilities: np.ndarray, labels: np.ndarray, counts: Sequence[int],
        prototype_log: Optional[np.ndarray] = None, taus: Sequence[float] = TAUS,
        weights: Sequence[float] = PROTOTYPE_WEIGHTS) -> Adjustment:
    """The (tau, prototype weight) with the best validation macro-F1; weights other than 0
    only when prototype_log is given."""
    num_classes = probabilities.shape[1]
    best = None
    for weight in (weights if prototype_log is not None else (0.0,)):
        for tau in sorted(taus, key=abs):
            scores = adjusted_log_scores(probabilities, counts, tau, prototype_log, weight)
            f1 = macro_f1(labels, scores.argmax(axis=1), num_classes)
            if best is None or f1 > best.validation_f1 + 1e-12:
                best = Adjustment(float(tau), float(weight), f1)
    return best


# --- Calibration and abstention --------------------------------------------------------------
TEMPERATURES = tuple(np.round(np.exp(np.linspace(np.log(0.25), np.log(8.0), 41)), 4))
ECE_BINS = 15


def softmax_scores(log_scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.exp(log_softmax(np.asarray(log_scores, dtype=np.float64) / temperature))


def fit_temperature(log_scores: np.ndarray, labels: np.ndarray,
                    temperatures: Sequence[float] = TEMPERATURES) -> float:
    """The temperature T with the lowest negative log-likelihood of softmax(scores / T) on the
    validation labels (Guo et al. 2017); it changes no prediction, only how sure they sound."""
    labels = np.asarray(labels)

    def nll(t):
        return -np.mean(log_softmax(np.asarray(log_scores) / t)[np.arange(len(labels)), labels])
    return float(min(temperatures, key=lambda t: (nll(t), abs(np.log(t)))))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """|accuracy - confidence| of the top class, averaged over equal-width confidence bins
    weighted by their share of examples."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


@dataclasses.dataclass(frozen=True)
class Abstention:
    threshold: float          # below this top score the answer is "unknown"
    precision: Optional[float]  # of the answers kept, on the validation split
    coverage: float           # share of validation images answered with a species


def abstain_threshold(probabilities: np.ndarray, labels: np.ndarray,
                      target_precision: float) -> Abstention:
    """The lowest top-score threshold at which the validation answers kept (top score >=
    threshold) are right at least `target_precision` of the time; when no threshold gets
    there, the one with the best precision (ties: the lower)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    best = None
    for threshold in sorted(set(np.round(confidence, 6))):
        kept = confidence >= threshold
        precision = float(correct[kept].mean())
        candidate = Abstention(float(threshold), precision, float(kept.mean()))
        if precision >= target_precision:
            return candidate
        if best is None or precision > best.precision:
            best = candidate
    return best or Abstention(1.0, None, 0.0)
