"""The custom TFMA metrics (pipeline/tfma_metrics.py) and the Evaluator's config
(pipeline/evaluation.py) against scikit-learn, on the same random predictions.

Three levels: the NumPy scores alone; TFMA's own computations (combiners and derived
computations) fed with the model's dict of outputs, as the Evaluator feeds them; and
tfma.analyze_raw_data with the pipeline's full metrics and slices (Beam, in memory).
"""
import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

N_CLASSES = 6
GROUPS = {0: ["top_5", "many"], 1: ["top_5", "medium"], 2: ["top_5", "medium"],
          3: ["bottom_5", "top_5", "few"], 4: ["bottom_2", "bottom_5", "few"],
          5: ["bottom_2", "bottom_5", "few"]}


def fake_predictions(n=400, seed=0):
    """Labels and softmax outputs that are right more often than chance; class 5 never wins
    (never predicted) to exercise the zero-division conventions."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(N_CLASSES, size=n, p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    logits = rng.normal(size=(n, N_CLASSES)) + 1.5 * np.eye(N_CLASSES)[labels]
    logits[:, 5] -= 10.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def sklearn_ece(labels, probabilities, n_bins=15):
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(int)
    accuracy_in_bin, confidence_in_bin = calibration_curve(correct, confidence, n_bins=n_bins,
                                                           strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence, side="right")
    weights = np.bincount(bins, minlength=n_bins)
    weights = weights[weights > 0] / len(labels)  # calibration_curve drops empty bins too
    return float(np.sum(weights * np.abs(accuracy_in_bin - confidence_in_bin)))


def test_scores_match_sklearn_including_undefined_cases():
    from pipeline import tfma_metrics
    labels, probabilities = fake_predictions()
    predicted = probabilities.argmax(axis=1)
    # Class 2 is predicted but never a label; class 5 is a label but never predicted.
    labels = np.where(labels == 2, 0, labels)
    assert 2 in predicted and 5 in labels and 5 not in predicted
    ids = sorted(set(labels) | set(predicted))
    counts = skm.confusion_matrix(labels, predicted, labels=ids)
    precision, recall, f1, _ = tfma_metrics.per_class_scores(counts)
    p, r, f, _ = skm.precision_recall_fscore_support(labels, predicted, labels=ids,
                                                     zero_division=0)
    np.testing.assert_allclose(precision, p)
    np.testing.assert_allclose(recall, r)
    np.testing.assert_allclose(f1, f)
    assert f1.mean() == pytest.approx(skm.f1_score(labels, predicted, average="macro"))


def _run_computations(computations, inputs):
    """What TFMA's evaluator does for one slice: every combiner over the inputs, then the
    derived computations in order."""
    results = {}
    for computation in computations:
        if hasattr(computation, "combiner"):
            combiner = computation.combiner
            accumulator = combiner.create_accumulator()
            for element in inputs:
                accumulator = combiner.add_input(accumulator, element)
            results.update(combiner.extract_output(combiner.merge_accumulators([accumulator])))
    for computation in computations:
        if not hasattr(computation, "combiner"):
            results.update(computation.result(results))
    return results


def test_tfma_computations_on_the_serving_signature_outputs():
    """Fed the signature's whole output dict (scores sorted best first, classes, and the
    label-ordered probabilities), the metrics must read "probabilities" (prediction_key)."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs, metric_types
    from pipeline import evaluation, tfma_metrics

    labels, probabilities = fake_predictions()
    eval_config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(
        label_key="species_id", prediction_key="probabilities")])
    module = evaluation.METRICS_MODULE
    configs = [tfma.MetricConfig(class_name=name, module=module)
               for name in ("MacroF1", "BalancedAccuracy", "PerClassMetrics",
                            "ExpectedCalibrationError")]
    configs.append(tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"))
    inputs = []
    for label, p in zip(labels, probabilities):
        order = np.argsort(-p)
        inputs.append(metric_types.StandardMetricInputs(
            labels=np.array([label]), example_weights=np.array([1.0]),
            predictions={"scores": p[order], "classes": np.array([f"s{i}" for i in order]),
                         "probabilities": p}))
    results = {}
    for config in configs:  # one at a time: TFMA shares the confusion matrix between them
        computations = metric_specs.to_computations([tfma.MetricsSpec(metrics=[config])],
                                                    eval_config)
        results.update(_run_computations(computations, inputs))
    by_name = {(k.name, k.sub_key.class_id if k.sub_key else None): v
               for k, v in results.items()}

    predicted = probabilities.argmax(axis=1)
    assert by_name[("macro_f1", None)] == pytest.approx(
        skm.f1_score(labels, predicted, average="macro"))
    assert by_name[("balanced_accuracy", None)] == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted))
    assert by_name[("calibration_error", None)] == pytest.approx(
        sklearn_ece(labels, probabilities))
    p, r, f, _ = skm.precision_recall_fscore_support(labels, predicted,
                                                     labels=range(N_CLASSES), zero_division=0)
    for class_id in range(N_CLASSES):
        assert by_name[("precision", class_id)] == pytest.approx(p[class_id])
        assert by_name[("recall", class_id)] == pytest.approx(r[class_id])
        assert by_name[("f1", class_id)] == pytest.approx(f[class_id])
    plot = by_name[("multi_class_confusion_matrix_plot", None)]
    matrix = np.zeros((N_CLASSES, N_CLASSES))
    for entry in plot.matrices[0].entries:
        matrix[entry.actual_class_id, entry.predicted_class_id] += entry.num_weighted_examples
    np.testing.assert_array_equal(matrix, skm.confusion_matrix(labels, predicted,
                                                               labels=range(N_CLASSES)))
    assert tfma_metrics.MACRO_F1 == "macro_f1"


@pytest.fixture(scope="module")
def raw_evaluation(tmp_path_factory):
    """The pipeline's own metrics and slices, run by TFMA over a DataFrame of predictions."""
    import pandas as pd
    import tensorflow_model_analysis as tfma
    from pipeline import evaluation

    labels, probabilities = fake_predictions(seed=1)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    frame = pd.DataFrame({"species_id": labels, "probabilities": list(probabilities),
                          "species": [f"species {y}" for y in labels],
                          "frequency_group": [GROUPS[y] for y in labels]})
    # Change thresholds need a baseline (TFX rubber-stamps the first run; here: none).
    # The floor sits just under overall accuracy, above some species' accuracy: it must
    # apply to the overall slice only.
    eval_config = evaluation.make_eval_config(
        accuracy - 0.01, max_rare_accuracy_drop=None, max_macro_f1_drop=None,
        model_spec=dict(label_key="species_id", prediction_key="probabilities"))
    output = str(tmp_path_factory.mktemp("tfma"))
    tfma.analyze_raw_data(frame, eval_config, output_path=output)
    return output, labels, probabilities


def test_every_frequency_group_value_is_a_slice(raw_evaluation):
    from pipeline.reports import metrics_table
    output, labels, probabilities = raw_evaluation
    table = metrics_table.load(output)
    expected = {}
    for label in labels:
        for group in GROUPS[label]:
            expected[group] = expected.get(group, 0) + 1
    assert {g: v["example_count"] for g, v in table["frequency_group"].items()} == expected
    assert set(table["species"]) == {f"species {c}" for c in range(N_CLASSES)}
    predicted = probabilities.argmax(axis=1)
    for group in expected:
        members = np.array([group in GROUPS[y] for y in labels])
        values = table["frequency_group"][group]
        assert values["accuracy"] == pytest.approx(np.mean(predicted[members] ==
                                                           labels[members]), abs=1e-6)
        # Macro-F1 on a slice: over the classes that occur there as label or prediction.
        assert values["macro_f1"] == pytest.approx(skm.f1_score(
            labels[members], predicted[members], average="macro"))


def test_overall_metrics_match_sklearn(raw_evaluation):
    from pipeline.reports import metrics_table
    output, labels, probabilities = raw_evaluation
    table = metrics_table.load(output)
    overall = table["overall"]
    predicted = probabilities.argmax(axis=1)
    assert overall["example_count"] == len(labels)
    assert overall["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted), abs=1e-6)
    assert overall["top_3_accuracy"] == pytest.approx(skm.top_k_accuracy_score(
        labels, probabilities, k=3, labels=range(N_CLASSES)), abs=1e-6)
    assert overall["macro_f1"] == pytest.approx(skm.f1_score(labels, predicted,
                                                             average="macro"))
    assert overall["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted))
    assert overall["calibration_error"] == pytest.approx(sklearn_ece(labels, probabilities))
    _, recall, _, _ = skm.precision_recall_fscore_support(
        labels, predicted, labels=range(N_CLASSES), zero_division=0)
    assert {c: v["recall"] for c, v in table["per_class"].items()} == pytest.approx(
        dict(enumerate(recall)))
    matrix = skm.confusion_matrix(labels, predicted, labels=range(N_CLASSES))
    assert table["confusion_matrix"] == {
        (a, p): float(matrix[a, p]) for a in range(N_CLASSES) for p in range(N_CLASSES)
        if matrix[a, p]}


def test_accuracy_floor_applies_to_the_overall_slice_only(raw_evaluation):
    import tensorflow_model_analysis as tfma
    from pipeline.reports import metrics_table
    output, _, _ = raw_evaluation
    table = metrics_table.load(output)
    floor = table["overall"]["accuracy"] - 0.01
    assert min(v["accuracy"] for v in table["species"].values()) < floor
    result = tfma.load_validation_result(output)
    assert result.validation_ok, result


def test_a_diverged_model_is_evaluated_and_not_blessed(tmp_path):
    """NaN scores (a loss that diverged) must give an evaluation, with a NaN ECE and a failed
    accuracy floor, not a crash: a sweep then reports the collapse and goes on."""
    import pandas as pd
    import tensorflow_model_analysis as tfma
    from pipeline import evaluation
    from pipeline.reports import metrics_table

    labels, probabilities = fake_predictions(n=60, seed=2)
    probabilities[:] = np.nan
    frame = pd.DataFrame({"species_id": labels, "probabilities": list(probabilities),
                          "species": [f"species {y}" for y in labels],
                          "frequency_group": [GROUPS[y] for y in labels]})
    eval_config = evaluation.make_eval_config(
        0.5, max_rare_accuracy_drop=None, max_macro_f1_drop=None,
        model_spec=dict(label_key="species_id", prediction_key="probabilities"))
    tfma.analyze_raw_data(frame, eval_config, output_path=str(tmp_path))
    overall = metrics_table.load(str(tmp_path))["overall"]
    assert overall["example_count"] == len(labels)
    assert overall["accuracy"] < 0.5
    assert np.isnan(overall["calibration_error"])
    assert not tfma.load_validation_result(str(tmp_path)).validation_ok
