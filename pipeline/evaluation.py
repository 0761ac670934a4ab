"""TFMA configuration of the Evaluator: what is measured, on which slices, and what blesses."""
from typing import Optional

import tensorflow_model_analysis as tfma

from schema.features import (DEFAULT_RARE_GROUP, FREQUENCY_GROUP_KEY, LABEL_ID_KEY,
                             LABEL_KEY)

# The label comes from the model's own Transform graph (transform_features signature), so
# TFMA compares integer ids with the probabilities in label-id order.
MODEL_SPEC = dict(signature_name="serving_examples", prediction_key="probabilities",
                  label_key=LABEL_ID_KEY, preprocessing_function_names=["transform_features"])
SLICES = ([], [FREQUENCY_GROUP_KEY], [LABEL_KEY])


# Custom metrics (macro-F1, balanced accuracy, per-species P/R/F1, calibration error).
METRICS_MODULE = "pipeline.tfma_metrics"
ECE_BINS = 15
OVERALL = tfma.SlicingSpec()


def group_slice(group: str) -> tfma.SlicingSpec:
    """The slice of one frequency group (frequency_group is multivalent: every value of an
    example is a slice of its own)."""
    return tfma.SlicingSpec(feature_values={FREQUENCY_GROUP_KEY: group})


def _no_worse_than_baseline(tolerance: float) -> tfma.MetricThreshold:
    """Candidate - baseline >= -tolerance (absolute). Without a baseline (the first run) TFX
    rubber-stamps: change thresholds are skipped."""
    return tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -tolerance}))


def metrics_specs(min_accuracy: float, max_rare_accuracy_drop: Optional[float] = 0.02,
                  max_macro_f1_drop: Optional[float] = 0.02,
                  rare_group: str = DEFAULT_RARE_GROUP) -> list:
    """Every metric on every slice, and the blessing: overall accuracy >= min_accuracy and,
    against the baseline (latest blessed model), rare_group's accuracy and macro-F1 may fall
    by at most the given absolute tolerances (None: no such check). Thresholds name their
    slices: a threshold without one would apply to every slice, species included."""
    per_slice = tfma.PerSliceMetricThreshold
    module = dict(module=METRICS_MODULE)
    accuracy_thresholds = [per_slice(slicing_specs=[OVERALL], threshold=tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy})))]
    if max_rare_accuracy_drop is not None:
        accuracy_thresholds.append(per_slice(
            slicing_specs=[group_slice(rare_group)],
            threshold=_no_worse_than_baseline(max_rare_accuracy_drop)))
    f1_thresholds = [] if max_macro_f1_drop is None else [per_slice(
        slicing_specs=[OVERALL], threshold=_no_worse_than_baseline(max_macro_f1_drop))]
    return [tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(
            class_name="SparseCategoricalAccuracy", config='{"name": "accuracy"}',
            per_slice_thresholds=accuracy_thresholds),
        tfma.MetricConfig(class_name="SparseTopKCategoricalAccuracy",
                          config='{"k": 3, "name": "top_3_accuracy"}'),
        tfma.MetricConfig(class_name="MacroF1", per_slice_thresholds=f1_thresholds, **module),
        tfma.MetricConfig(class_name="BalancedAccuracy", **module),
        tfma.MetricConfig(class_name="PerClassMetrics", **module),
        tfma.MetricConfig(class_name="ExpectedCalibrationError",
                          config=f'{{"num_bins": {ECE_BINS}}}', **module),
        # TFMA's own; the report draws it (argmax predictions, threshold 0.0).
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ])]


def make_eval_config(min_accuracy: float, max_rare_accuracy_drop: Optional[float] = 0.02,
                     max_macro_f1_drop: Optional[float] = 0.02,
                     rare_group: str = DEFAULT_RARE_GROUP,
                     model_spec: Optional[dict] = None) -> tfma.EvalConfig:
    """The Evaluator's config; model_spec replaces MODEL_SPEC (e.g. tfma.analyze_raw_data on
    a DataFrame of labels and predictions, in tests)."""
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(**(model_spec or MODEL_SPEC))],
        slicing_specs=[tfma.SlicingSpec(feature_keys=keys) for keys in SLICES],
        metrics_specs=metrics_specs(min_accuracy, max_rare_accuracy_drop, max_macro_f1_drop,
                                    rare_group))
