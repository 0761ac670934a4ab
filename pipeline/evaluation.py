"""TFMA configuration of the Evaluator: what is measured, on which slices, and what blesses."""
import tensorflow_model_analysis as tfma

from trainer.preprocessing import LABEL_ID_KEY

# The label comes from the model's own Transform graph (transform_features signature), so
# TFMA compares integer ids with the probabilities in label-id order.
MODEL_SPEC = dict(signature_name="serving_examples", prediction_key="probabilities",
                  label_key=LABEL_ID_KEY, preprocessing_function_names=["transform_features"])
SLICES = ([], ["frequency_group"], ["species"])


def make_eval_config(min_accuracy: float) -> tfma.EvalConfig:
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(**MODEL_SPEC)],
        slicing_specs=[tfma.SlicingSpec(feature_keys=keys) for keys in SLICES],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name="SparseCategoricalAccuracy", config='{"name": "accuracy"}',
                threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
                    lower_bound={"value": min_accuracy}))),
        ])])
