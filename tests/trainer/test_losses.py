"""trainer/losses.py against NumPy references computed here, on hand-made inputs."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_addons as tfa

from trainer import losses
from trainer.losses import (LOSSES, ClassBalancedFocalLoss, LogitAdjustedLoss,
                            class_balanced_weights, log_prior, make_loss, posthoc_adjust)

EPS = 1e-7
COUNTS = [100, 40, 10, 2]  # class 3 is the rarest
LABELS = np.array([0, 3, 2])
Y_TRUE = np.eye(4, dtype=np.float32)[LABELS]
Y_PRED = np.array([[0.97, 0.01, 0.01, 0.01],   # confident and correct
                   [0.90, 0.05, 0.03, 0.02],   # confident and wrong (true: the rarest class)
                   [0.25, 0.25, 0.30, 0.20]],  # uncertain (true: class 2)
                  dtype=np.float32)
# References use exactly the float32 values the losses see, in float64 arithmetic.
P = Y_PRED.astype(np.float64)
Y = Y_TRUE.astype(np.float64)
ROWS = np.arange(len(LABELS))
TIGHT = dict(rtol=1e-5, atol=1e-7)


def p_true(normalise=False):
    p = P / P.sum(axis=1, keepdims=True) if normalise else P  # Keras renormalises rows
    return p[ROWS, LABELS]


def check(loss, reference):
    """Per-example values (the loss's `call`, i.e. no reduction) and the reduced value."""
    np.testing.assert_allclose(loss.call(Y_TRUE, Y_PRED).numpy(), reference, **TIGHT)
    reduced = loss(Y_TRUE, Y_PRED).numpy()
    if loss.reduction == tf.keras.losses.Reduction.NONE:
        np.testing.assert_allclose(reduced, reference, **TIGHT)
    else:  # Keras' default: sum over batch size, i.e. the mean here
        assert reduced.shape == ()
        np.testing.assert_allclose(reduced, reference.mean(), **TIGHT)


def test_cross_entropy():
    loss = make_loss("cross_entropy")
    assert isinstance(loss, tf.keras.losses.CategoricalCrossentropy)
    check(loss, -np.log(p_true(normalise=True)))


def sigmoid_focal_reference(alpha, gamma):
    pc = np.clip(P, EPS, 1 - EPS)  # Keras' binary_crossentropy clip and +eps
    bce = -(Y * np.log(pc + EPS) + (1 - Y) * np.log(1 - pc + EPS))
    p_t = Y * P + (1 - Y) * (1 - P)
    alpha_factor = Y * alpha + (1 - Y) * (1 - alpha)
    return (alpha_factor * (1 - p_t) ** gamma * bce).sum(axis=1), bce.sum(axis=1)


def test_sigmoid_focal_is_tfa_and_matches_reference():
    loss = make_loss("sigmoid_focal", alpha=0.25, gamma=2.0)
    assert type(loss) is tfa.losses.SigmoidFocalCrossEntropy
    assert loss.reduction == tf.keras.losses.Reduction.NONE  # tfa's default, kept on purpose
    ref, _ = sigmoid_focal_reference(0.25, 2.0)
    check(loss, ref)
    tfa_value = tfa.losses.sigmoid_focal_crossentropy(Y_TRUE, Y_PRED, alpha=0.25, gamma=2.0)
    np.testing.assert_array_equal(loss(Y_TRUE, Y_PRED).numpy(), tfa_value.numpy())


def test_sigmoid_focal_without_focusing_is_summed_binary_cross_entropy():
    # gamma=0 removes the focal factor; alpha=0.5 weighs positives and negatives alike (x0.5).
    loss = make_loss("sigmoid_focal", alpha=0.5, gamma=0.0)
    _, bce_sum = sigmoid_focal_reference(0.5, 0.0)
    np.testing.assert_allclose(2 * loss(Y_TRUE, Y_PRED).numpy(), bce_sum, **TIGHT)
    keras_bce_sum = 4 * tf.keras.losses.binary_crossentropy(Y_TRUE, Y_PRED).numpy()  # it averages over C
    np.testing.assert_allclose(2 * loss(Y_TRUE, Y_PRED).numpy(), keras_bce_sum, **TIGHT)


def test_softmax_focal_scalar_alpha():
    loss = make_loss("softmax_focal", alpha=0.25, gamma=2.0)
    assert isinstance(loss, tf.keras.losses.CategoricalFocalCrossentropy)
    pt = p_true(normalise=True)
    check(loss, 0.25 * (1 - pt) ** 2 * -np.log(pt))


def test_softmax_focal_per_class_alpha():
    alpha = [0.1, 0.2, 0.3, 0.4]
    loss = make_loss("softmax_focal", alpha=alpha, gamma=1.5, class_counts=COUNTS)
    pt = p_true(normalise=True)
    check(loss, np.array(alpha)[LABELS] * (1 - pt) ** 1.5 * -np.log(pt))


def test_class_balanced_weights_hand_computed():
    # beta=0.5, n=(1,2,3): effective numbers (1-0.5^n)/0.5 = 1, 1.5, 1.75; w = 1, 2/3, 4/7,
    # sum 47/21, normalised to sum 3: 63/47, 42/47, 36/47.
    w = class_balanced_weights([1, 2, 3], beta=0.5)
    np.testing.assert_allclose(w, np.array([63, 42, 36]) / 47, rtol=1e-12)
    np.testing.assert_allclose(class_balanced_weights([5, 50, 500], beta=0.0), [1, 1, 1])
    # beta -> 1 approaches inverse frequency: 1, 1/2, 1/4 normalised to sum 3.
    np.testing.assert_allclose(class_balanced_weights([1, 2, 4], beta=1 - 1e-9),
                               np.array([4, 2, 1]) * 3 / 7, rtol=1e-6)
    w = class_balanced_weights(COUNTS, beta=0.999)
    assert w.sum() == pytest.approx(len(COUNTS))
    assert np.all(np.diff(w) > 0)  # rarer class, larger weight


def test_log_prior():
    np.testing.assert_allclose(log_prior([1, 3]), np.log([0.25, 0.75]), rtol=1e-12)
    np.testing.assert_allclose(np.exp(log_prior(COUNTS)).sum(), 1.0)


def test_class_balanced_focal():
    loss = make_loss("class_balanced_focal", class_counts=COUNTS, beta=0.99, gamma=2.0)
    pt = p_true()
    w = class_balanced_weights(COUNTS, 0.99)[LABELS]
    check(loss, w * (1 - pt) ** 2 * -np.log(pt))


def test_class_balanced_focal_reduces_to_cross_entropy():
    # beta=0 (equal weights) and gamma=0 (no focusing): plain cross-entropy.
    loss = make_loss("class_balanced_focal", class_counts=COUNTS, beta=0.0, gamma=0.0)
    ce = tf.keras.losses.CategoricalCrossentropy()
    np.testing.assert_allclose(loss(Y_TRUE, Y_PRED).numpy(), ce(Y_TRUE, Y_PRED).numpy(), **TIGHT)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_logit_adjusted(tau):
    loss = make_loss("logit_adjusted", class_counts=COUNTS, tau=tau)
    z = np.log(P) + tau * log_prior(COUNTS)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    check(loss, -log_softmax[ROWS, LABELS])


def test_logit_adjusted_tau_zero_is_cross_entropy():
    loss = make_loss("logit_adjusted", class_counts=COUNTS, tau=0.0)
    check(loss, -np.log(p_true(normalise=True)))


@pytest.mark.parametrize("name", ["class_balanced_focal", "logit_adjusted"])
def test_rare_class_example_gets_larger_gradient(name):
    loss = make_loss(name, class_counts=COUNTS)
    y_pred = tf.constant([[0.25, 0.25, 0.25, 0.25]] * 2)  # the same prediction...
    y_true = tf.constant(np.eye(4, dtype=np.float32)[[0, 3]])  # ...for a common and a rare class
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = tf.reduce_sum(loss.call(y_true, y_pred))
    common, rare = tf.norm(tape.gradient(value, y_pred), axis=1).numpy()
    assert rare > common > 0


@pytest.mark.parametrize("loss", [
    ClassBalancedFocalLoss(COUNTS, beta=0.9, gamma=1.0, reduction="none", name="cb"),
    LogitAdjustedLoss(COUNTS, tau=0.7),
], ids=lambda l: type(l).__name__)
def test_config_round_trip(loss):
    config = json.loads(json.dumps(loss.get_config()))  # JSON-safe, as SavedModel needs
    clone = type(loss).from_config(config)
    assert clone.get_config() == loss.get_config()
    np.testing.assert_array_equal(clone(Y_TRUE, Y_PRED).numpy(), loss(Y_TRUE, Y_PRED).numpy())
    name = tf.keras.utils.get_registered_name(type(loss))
    assert name == f"rarespecies>{type(loss).__name__}"
    assert type(tf.keras.losses.deserialize(tf.keras.losses.serialize(loss))) is type(loss)


def test_posthoc_adjust():
    probs = tf.constant([[0.3, 0.25, 0.25, 0.2]])
    adjusted = tf.function(posthoc_adjust)(probs, COUNTS, 1.0).numpy()
    ref = probs.numpy().astype(np.float64) / (np.array(COUNTS) / sum(COUNTS))  # p / prior
    np.testing.assert_allclose(adjusted, ref / ref.sum(axis=1, keepdims=True), **TIGHT)
    assert adjusted[0, 3] > probs.numpy()[0, 3]  # the rarest class scores higher
    assert adjusted[0].argmax() == 3
    np.testing.assert_allclose(posthoc_adjust(probs, COUNTS, 0.0).numpy(), probs.numpy(), **TIGHT)


def test_every_loss_trains_a_softmax_model_one_step():
    # The losses inside Keras' graph-mode fit on a real softmax output: finite values.
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[[0, 0, 0, 0, 1, 1, 2, 3]]
    for name in LOSSES:
        model = tf.keras.Sequential([tf.keras.layers.Dense(4, activation="softmax", input_shape=(3,))])
        model.compile(tf.keras.optimizers.Adam(1e-3), loss=make_loss(name, class_counts=COUNTS))
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0]), name


@pytest.mark.parametrize("name, kwargs, match", [
    ("class_balanced_focal", {}, "class_counts"),
    ("logit_adjusted", {}, "class_counts"),
    ("logit_adjusted", {"class_counts": [5, 0, 3]}, r"positive.*\[1\]"),
    ("class_balanced_focal", {"class_counts": [5, 0, 3]}, "positive"),
    ("softmax_focal", {"alpha": [0.2, 0.3]}, "class_counts"),
    ("softmax_focal", {"alpha": [0.2, 0.3], "class_counts": COUNTS}, "2 entries.*4 classes"),
    ("sigmoid_focal", {"alpha": [0.2, 0.3]}, "scalar alpha"),
    ("focal", {}, "unknown loss"),
    ("cross_entropy", {"gamma": -1.0}, "gamma"),
])
def test_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_loss(name, **kwargs)


def test_wrong_number_of_classes_at_call_time():
    loss = make_loss("logit_adjusted", class_counts=COUNTS[:3])
    with pytest.raises(ValueError, match="4 classes but class_counts has 3"):
        loss(Y_TRUE, Y_PRED)
    with pytest.raises(ValueError, match="beta"):
        losses.class_balanced_weights(COUNTS, beta=1.0)
