"""trainer/posthoc.py against NumPy and scikit-learn references: macro-F1, the prototypes, the
adjusted scores, and the fit that picks tau and the prototype weight on validation data."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from trainer import posthoc

COUNTS = [90, 9, 1]


def test_macro_f1_is_sklearns_over_present_classes():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    assert posthoc.macro_f1(labels, predictions, 5) == pytest.approx(
        f1_score(labels, predictions, average="macro"))
    # A class absent from the labels is left out, as with sklearn's labels=present.
    labels[labels == 4] = 0
    assert posthoc.macro_f1(labels, predictions, 5) == pytest.approx(
        f1_score(labels, predictions, labels=[0, 1, 2, 3], average="macro"))


def test_prototypes_are_normalised_class_means_of_normalised_embeddings():
    embeddings = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 5.0]])
    labels = np.array([0, 0, 1, 1])
    protos = posthoc.prototypes(embeddings, labels, 3)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    expected0 = unit[:2].mean(0) / np.linalg.norm(unit[:2].mean(0))
    np.testing.assert_allclose(protos[0], expected0)
    np.testing.assert_allclose(protos[1], [2 ** -0.5, 2 ** -0.5])
    np.testing.assert_allclose(protos[2], [0.0, 0.0])  # no example


def test_adjusted_scores_reference():
    probabilities = np.array([[0.7, 0.2, 0.1]])
    prototype_log = np.log(np.array([[0.1, 0.1, 0.8]]))
    tau, weight = 1.5, 0.25
    prior = np.log(np.array(COUNTS) / sum(COUNTS))
    expected = (1 - weight) * (np.log(probabilities) - tau * prior) + weight * prototype_log
    np.testing.assert_allclose(
        posthoc.adjusted_log_scores(probabilities, COUNTS, tau, prototype_log, weight), expected)


def test_fit_finds_the_tau_that_undoes_a_prior_bias():
    """Validation examples of 3 classes whose probabilities are biased by the train prior:
    tau near 1 restores the labels, and the fit's F1 is the F1 of its own choice."""
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 40)
    evidence = np.eye(3)[labels] * 2.0 + rng.normal(0, 0.6, (120, 3))
    biased = evidence + np.log(np.array(COUNTS) / sum(COUNTS))
    probabilities = np.exp(biased) / np.exp(biased).sum(1, keepdims=True)
    chosen = posthoc.fit(probabilities, labels, COUNTS)
    assert 0.75 <= chosen.tau <= 1.25 and chosen.prototype_weight == 0.0
    scores = posthoc.adjusted_log_scores(probabilities, COUNTS, chosen.tau)
    assert chosen.validation_f1 == pytest.approx(posthoc.macro_f1(labels, scores.argmax(1), 3))
    assert chosen.validation_f1 > posthoc.macro_f1(labels, probabilities.argmax(1), 3) + 0.2


def test_fit_weights_prototypes_when_they_know_better_and_ties_keep_the_simpler():
    labels = np.repeat([0, 1, 2], 10)
    useless = np.full((30, 3), 1 / 3)
    knowing = np.log(np.eye(3)[labels] * 0.9 + 0.05)
    chosen = posthoc.fit(useless, labels, [10, 10, 10], knowing)
    assert chosen.prototype_weight > 0 and chosen.validation_f1 == pytest.approx(1.0)
    perfect = np.eye(3)[labels] * 0.98 + 0.01
    chosen = posthoc.fit(perfect, labels, [10, 10, 10], knowing)
    assert (chosen.tau, chosen.prototype_weight) == (0.0, 0.0)  # nothing to gain: no change


# -- calibration and abstention ----------------------------------------------------------------
def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_fit_temperature_undoes_overconfidence():
    """Labels drawn from softmax(z); the model reports 3 z (too sure): T near 3 brings the
    scores back, and no prediction changes."""
    rng = np.random.default_rng(2)
    z = rng.normal(0, 1.5, (4000, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(z)])
    t = posthoc.fit_temperature(3 * z, labels)
    assert 2.6 <= t <= 3.4
    calibrated = posthoc.softmax_scores(3 * z, t)
    np.testing.assert_array_equal(calibrated.argmax(1), z.argmax(1))
    before = posthoc.expected_calibration_error(softmax(3 * z), labels)
    after = posthoc.expected_calibration_error(calibrated, labels)
    assert after < 0.03 < 0.1 < before


def test_expected_calibration_error_by_hand():
    # Two bins used (15 bins of width 1/15): confidences 0.9 (right, wrong) and 0.6 (right).
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4]])
    labels = np.array([0, 0, 0])
    expected = 2 / 3 * abs(0.5 - 0.9) + 1 / 3 * abs(1.0 - 0.6)
    assert posthoc.expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_abstain_threshold_is_the_lowest_that_reaches_the_target_precision():
    # Top scores 0.9, 0.8, 0.7, 0.6, 0.5; right, right, wrong, right, wrong.
    top = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    probabilities = np.stack([top, 1 - top], axis=1)
    labels = np.array([0, 0, 1, 0, 1])
    chosen = posthoc.abstain_threshold(probabilities, labels, 0.75)
    assert (chosen.threshold, chosen.precision, chosen.coverage) == (0.6, 0.75, 0.8)
    chosen = posthoc.abstain_threshold(probabilities, labels, 0.95)
    assert (chosen.threshold, chosen.precision, chosen.coverage) == (0.8, 1.0, 0.4)
    # Out of reach: the best precision there is, at the lowest threshold that has it.
    wrong = posthoc.abstain_threshold(probabilities, 1 - labels, 0.95)
    assert wrong.precision == pytest.approx(0.4) and wrong.threshold == pytest.approx(0.5)
