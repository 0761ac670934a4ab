"""Custom TFMA metrics for the species classifier (multi-class, one true species an example).

TFMA 0.46 has no macro-F1, balanced accuracy or expected calibration error for multi-class
models, and its own per-class metrics (BinarizationOptions(class_ids=...)) need the class ids
when the EvalConfig is built; here the species vocabulary (and so the number of classes) is
only known after Transform has run, and an out-of-range class id is an error in TFMA. So:

- MacroF1, BalancedAccuracy and PerClassMetrics are derived from TFMA's own multi-class
  confusion matrix (the computation behind MultiClassConfusionMatrixPlot, threshold 0.0, i.e.
  the argmax prediction), which TFMA computes once per slice and shares between them.
- ExpectedCalibrationError has its own combiner (top-label confidence, equal-width bins).

Conventions follow scikit-learn, and tests/pipeline/test_tfma_metrics.py checks them against it:
- classes are those that occur in the slice as a label or as a prediction;
- F1 = 2 TP / (2 TP + FP + FN) (the standard F1; the paper's formula lacks the factor 2),
  0 where undefined; macro-F1 is its unweighted mean over the classes;
- balanced accuracy is the mean recall over the classes that occur as a label;
- per-class precision (recall) is 0 for a class never predicted (never a label).

This module is named in the EvalConfig (MetricConfig.module), so Beam workers import it:
it must stay importable without side effects beyond registering the metrics.
"""
from typing import Any, Dict, Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mccm

MODULE = __name__
MACRO_F1 = "macro_f1"
BALANCED_ACCURACY = "balanced_accuracy"
CALIBRATION_ERROR = "calibration_error"
PER_CLASS = "per_class"
# Metric names of PerClassMetrics' outputs; each is keyed by SubKey(class_id=...).
PRECISION, RECALL, F1 = "precision", "recall", "f1"
# MultiClassConfusionMatrixPlot's default: the top prediction always counts (argmax).
ARGMAX_THRESHOLDS = [0.0]


def confusion_counts(matrices, threshold: float = ARGMAX_THRESHOLDS[0]):
    """(class ids, C x C counts [actual, predicted], examples without a prediction per actual
    class) from TFMA's Matrices. Class ids: those that occur as a label or a prediction."""
    entries = matrices.get(threshold, {})
    ids = sorted({k.actual_class_id for k in entries} |
                 {k.predicted_class_id for k in entries} - {mccm.NO_PREDICTED_CLASS_ID})
    index = {class_id: i for i, class_id in enumerate(ids)}
    counts = np.zeros((len(ids), len(ids)))
    unpredicted = np.zeros(len(ids))
    for key, weight in entries.items():
        if key.predicted_class_id == mccm.NO_PREDICTED_CLASS_ID:
            unpredicted[index[key.actual_class_id]] += weight
        else:
            counts[index[key.actual_class_id], index[key.predicted_class_id]] += weight
    return ids, counts, unpredicted


def _ratio(numerator, denominator):
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator),
                     where=denominator > 0)


def per_class_scores(counts: np.ndarray, unpredicted: Optional[np.ndarray] = None):
    """precision, recall, F1 and support (examples with that label) per class."""
    tp = np.diag(counts)
    support = counts.sum(axis=1) + (0 if unpredicted is None else unpredicted)
    predicted = counts.sum(axis=0)
    return (_ratio(tp, predicted), _ratio(tp, support),
            _ratio(2 * tp, support + predicted), support)


def _confusion_derived(name, compute, eval_config, model_name, output_name,
                       example_weighted) -> metric_types.MetricComputations:
    """TFMA's confusion-matrix computation plus a derived one: compute(key, ids, counts,
    unpredicted) -> {MetricKey: value}.

    The computation functions below name eval_config & co. in their signatures because
    merge_per_key_computations passes only the arguments a function names: without
    eval_config, TFMA cannot pick the model's prediction_key ("probabilities") out of the
    signature's outputs and takes "scores" (sorted best first) instead."""
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    computations = mccm.multi_class_confusion_matrices(
        thresholds=ARGMAX_THRESHOLDS, eval_config=eval_config, model_name=model_name,
        output_name=output_name, example_weighted=example_weighted)
    matrices_key = computations[-1].keys[-1]

    def result(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
        return compute(key, *confusion_counts(metrics[matrices_key]))

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


def _macro_f1(name: str = MACRO_F1, eval_config=None, model_name: str = "",
              output_name: str = "", example_weighted: bool = False):
    def compute(key, ids, counts, unpredicted):
        f1 = per_class_scores(counts, unpredicted)[2]
        return {key: float(f1.mean()) if len(ids) else float("nan")}
    return _confusion_derived(name, compute, eval_config, model_name, output_name,
                              example_weighted)


def _balanced_accuracy(name: str = BALANCED_ACCURACY, eval_config=None, model_name: str = "",
                       output_name: str = "", example_weighted: bool = False):
    def compute(key, ids, counts, unpredicted):
        _, recall, _, support = per_class_scores(counts, unpredicted)
        labelled = support > 0
        return {key: float(recall[labelled].mean()) if labelled.any() else float("nan")}
    return _confusion_derived(name, compute, eval_config, model_name, output_name,
                              example_weighted)


def _per_class(name: str = PER_CLASS, eval_config=None, model_name: str = "",
               output_name: str = "", example_weighted: bool = False):
    def compute(key, ids, counts, unpredicted):
        precision, recall, f1, _ = per_class_scores(counts, unpredicted)
        out = {}
        for i, class_id in enumerate(ids):
            sub_key = metric_types.SubKey(class_id=int(class_id))
            for metric_name, values in ((PRECISION, precision), (RECALL, recall), (F1, f1)):
                out[key._replace(name=metric_name, sub_key=sub_key)] = float(values[i])
        return out
    return _confusion_derived(name, compute, eval_config, model_name, output_name,
                              example_weighted)


class MacroF1(metric_types.Metric):
    """Unweighted mean over species of the standard F1 of the argmax prediction."""

    def __init__(self, name: str = MACRO_F1):
        super().__init__(metric_util.merge_per_key_computations(_macro_f1), name=name)


class BalancedAccuracy(metric_types.Metric):
    """Mean per-species recall (scikit-learn's balanced_accuracy_score)."""

    def __init__(self, name: str = BALANCED_ACCURACY):
        super().__init__(metric_util.merge_per_key_computations(_balanced_accuracy), name=name)


class PerClassMetrics(metric_types.Metric):
    """precision, recall and f1 of each class, as metrics with SubKey(class_id=...): the
    loaded results show them under the sub key "classId:<id>"."""

    def __init__(self, name: str = PER_CLASS):
        super().__init__(metric_util.merge_per_key_computations(_per_class), name=name)


class _CalibrationBins(beam.CombineFn):
    """Per confidence bin: total weight, weighted confidence and weighted correctness."""

    def __init__(self, key, eval_config, example_weighted: bool, num_bins: int):
        self._key = key
        self._eval_config = eval_config
        self._example_weighted = example_weighted
        self._num_bins = num_bins

    def create_accumulator(self) -> np.ndarray:
        return np.zeros((3, self._num_bins))

    def add_input(self, accumulator: np.ndarray,
                  element: metric_types.StandardMetricInputs) -> np.ndarray:
        label, predictions, weight = next(metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config, model_name=self._key.model_name,
            output_name=self._key.output_name, example_weighted=self._example_weighted,
            flatten=False, require_single_example_weight=True))
        predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
        label = np.asarray(label).reshape(-1)
        actual = int(np.argmax(label)) if label.size > 1 else int(label[0])
        predicted = int(np.argmax(predictions))
        confidence = float(predictions[predicted])
        # Bins [i/n, (i+1)/n), the last one closed: scikit-learn's calibration_curve binning.
        # A diverged model's NaN scores go to bin 0 and make the ECE NaN, not a crash.
        index = min(max(int(confidence * self._num_bins), 0), self._num_bins - 1) \
            if np.isfinite(confidence) else 0
        weight = float(weight)
        accumulator[0, index] += weight
        accumulator[1, index] += weight * confidence
        accumulator[2, index] += weight * (predicted == actual)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result = result + accumulator
        return result

    def extract_output(self, accumulator: np.ndarray) -> Dict[metric_types.MetricKey, float]:
        return {self._key: expected_calibration_error(*accumulator)}


def expected_calibration_error(weights, confidence_sums, correct_sums) -> float:
    """sum over bins of (bin weight / total) * |accuracy in bin - mean confidence in bin|."""
    weights = np.asarray(weights, float)
    total = weights.sum()
    if total <= 0:
        return float("nan")
    gaps = np.abs(_ratio(correct_sums, weights) - _ratio(confidence_sums, weights))
    return float((weights / total * gaps).sum())


def _calibration_error(num_bins: int = 15, name: str = CALIBRATION_ERROR, eval_config=None,
                       model_name="", output_name="", example_weighted=False):
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_CalibrationBins(key, eval_config, example_weighted, int(num_bins)))]


class ExpectedCalibrationError(metric_types.Metric):
    """Top-label ECE (Guo et al. 2017): confidence = the top probability, correct = the top
    class is the label; num_bins equal-width bins over [0, 1]."""

    def __init__(self, num_bins: int = 15, name: str = CALIBRATION_ERROR):
        super().__init__(metric_util.merge_per_key_computations(_calibration_error),
                         num_bins=num_bins, name=name)


for _metric in (MacroF1, BalancedAccuracy, PerClassMetrics, ExpectedCalibrationError):
    metric_types.register_metric(_metric)
