"""Every training loss the trainer can use, built by one factory: `make_loss(name, ...)`.

All losses take y_true one-hot float [batch, C] and y_pred = the model's softmax
probabilities [batch, C]: the model ends in a softmax, as the paper's (Schneider's head) does.
`class_counts` is always the per-class TRAIN count list in label-index order.

- cross_entropy         the paper's baseline (Keras CategoricalCrossentropy).
- sigmoid_focal         the paper's loss, exactly tfa.losses.SigmoidFocalCrossEntropy.
- softmax_focal         Keras CategoricalFocalCrossentropy; alpha a scalar or per-class list.
- class_balanced_focal  Cui et al. 2019: effective-number class weights x softmax focal term.
- logit_adjusted        Menon et al. 2021: cross-entropy on logits + tau*log(prior);
                        tau=1 is Balanced Softmax (Ren et al. 2020).

Counts must all be positive where they are used (class_balanced_focal, logit_adjusted,
posthoc_adjust). A zero count gives an infinite class-balanced weight and a log prior of
-inf (the class could never be predicted in training, and would always win post-hoc).
In this pipeline the label vocabulary comes from the train split, so a zero count means the
vocabulary and the counts disagree: we raise instead of smoothing the bug away. Callers who
really have an unseen class must decide its count themselves (e.g. add 1 to every count).
"""
import numpy as np
import tensorflow as tf
import tensorflow_addons as tfa

from trainer.hparams import LOSSES

# Same clip Keras applies to probabilities in its cross-entropies; keeps log() finite.
# Below it the gradient through the clip is zero, the price of taking probabilities, not logits.
_EPS = 1e-7


def _positive_counts(class_counts, who):
    if class_counts is None:
        raise ValueError(f"{who} needs class_counts (per-class train counts in label-index order)")
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"{who}: class_counts must be a non-empty 1-D list, got {class_counts!r}")
    if np.any(counts <= 0):
        bad = [int(i) for i in np.flatnonzero(counts <= 0)]
        raise ValueError(
            f"{who}: every class count must be positive, but classes {bad} have count <= 0; "
            "a class with no train images means the label vocabulary and the counts disagree")
    return counts


def class_balanced_weights(class_counts, beta):
    """Cui et al. 2019: w_c = (1 - beta) / (1 - beta^n_c), normalised to sum to C.

    beta=0 gives equal weights; beta -> 1 approaches inverse class frequency.
    """
    counts = _positive_counts(class_counts, "class_balanced_weights")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    w = (1.0 - beta) / (1.0 - np.power(beta, counts))  # 1 / effective number of samples
    return w * (len(w) / w.sum())


def log_prior(class_counts):
    """log(n_c / sum n): the train label prior that logit adjustment uses."""
    counts = _positive_counts(class_counts, "log_prior")
    return np.log(counts / counts.sum())


def _check_width(y_pred, n_classes):
    width = y_pred.shape[-1]
    if width is not None and width != n_classes:
        raise ValueError(f"y_pred has {width} classes but class_counts has {n_classes}")


def _as_list(class_counts):
    # Plain Python numbers, so get_config() is JSON-serialisable for SavedModel / TFX.
    return np.asarray(class_counts).tolist()


@tf.keras.utils.register_keras_serializable(package="rarespecies")
class ClassBalancedFocalLoss(tf.keras.losses.Loss):
    """w_y * -(1 - p_y)^gamma * log(p_y), w from class_balanced_weights.

    Cui et al. also define a sigmoid variant; species are single-label (exactly one true
    class, a softmax output), so we use the softmax focal term on the true class.
    """

    def __init__(self, class_counts, beta=0.999, gamma=2.0,
                 reduction=tf.keras.losses.Reduction.AUTO, name="class_balanced_focal"):
        super().__init__(reduction=reduction, name=name)
        self.class_counts = _as_list(class_counts)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self._weights = class_balanced_weights(self.class_counts, self.beta)

    def call(self, y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        _check_width(y_pred, len(self.class_counts))
        # Upper clip too: keeps (1 - p)^gamma differentiable for gamma < 1.
        p = tf.clip_by_value(y_pred, _EPS, 1.0 - _EPS)
        w = tf.constant(self._weights, y_pred.dtype)
        # y_true is one-hot, so the sum picks the true class's term.
        per_class = y_true * w * tf.pow(1.0 - p, self.gamma) * -tf.math.log(p)
        return tf.reduce_sum(per_class, axis=-1)

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts,
                "beta": self.beta, "gamma": self.gamma}


@tf.keras.utils.register_keras_serializable(package="rarespecies")
class LogitAdjustedLoss(tf.keras.losses.Loss):
    """Menon et al. 2021: softmax cross-entropy of (logits + tau * log prior).

    The model gives probabilities, so we use log(clip(p)) as logits: softmax is
    shift-invariant and log(softmax(z)) = z - logsumexp(z), so this is exact up to the clip.
    Adding the log prior makes common classes "cheap" in training, so the network's own
    scores must favour rare classes more; tau=1 is Balanced Softmax.
    """

    def __init__(self, class_counts, tau=1.0,
                 reduction=tf.keras.losses.Reduction.AUTO, name="logit_adjusted"):
        super().__init__(reduction=reduction, name=name)
        self.class_counts = _as_list(class_counts)
        self.tau = float(tau)
        self._log_prior = log_prior(self.class_counts)

    def call(self, y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        _check_width(y_pred, len(self.class_counts))
        logits = tf.math.log(tf.clip_by_value(y_pred, _EPS, 1.0))
        logits += self.tau * tf.constant(self._log_prior, y_pred.dtype)
        return tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits)

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts, "tau": self.tau}


def posthoc_adjust(probs, class_counts, tau=1.0):
    """softmax(log p - tau * log prior): post-hoc logit adjustment for a trained model.

    A plain tf op (usable inside a tf.function / serving signature): divides each class's
    probability by prior^tau and renormalises, raising rare classes' scores.
    """
    probs = tf.convert_to_tensor(probs)
    prior = tf.constant(log_prior(class_counts), probs.dtype)
    logits = tf.math.log(tf.clip_by_value(probs, _EPS, 1.0))
    return tf.nn.softmax(logits - tau * prior, axis=-1)


def make_loss(name, *, class_counts=None, alpha=0.25, gamma=2.0, beta=0.999, tau=1.0):
    """The loss `name` (one of LOSSES). Parameters a loss does not use are ignored."""
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if name == "cross_entropy":
        return tf.keras.losses.CategoricalCrossentropy()
    if name == "sigmoid_focal":
        if np.ndim(alpha) != 0:
            raise ValueError("sigmoid_focal takes a scalar alpha (as in the paper); "
                             "use softmax_focal for a per-class alpha")
        # The paper's loss exactly, with tfa's defaults: from_logits=False and reduction NONE.
        # With NONE, Keras receives per-example losses and differentiates their SUM over the
        # batch (the logged loss is still the mean), so gradients are batch-size times those
        # of a mean-reduced loss. The paper trained this way (Adam is nearly scale-invariant),
        # so we keep it for a faithful reproduction. Note tfa treats alpha=0 as "no alpha".
        return tfa.losses.SigmoidFocalCrossEntropy(alpha=float(alpha), gamma=float(gamma))
    if name == "softmax_focal":
        if np.ndim(alpha) == 0:
            return tf.keras.losses.CategoricalFocalCrossentropy(alpha=float(alpha), gamma=float(gamma))
        alpha = [float(a) for a in alpha]
        if class_counts is None:
            raise ValueError("softmax_focal with a per-class alpha needs class_counts "
                             "(to check alpha has one entry per class)")
        if len(alpha) != len(class_counts):
            raise ValueError(f"softmax_focal: alpha has {len(alpha)} entries "
                             f"but there are {len(class_counts)} classes")
        return tf.keras.losses.CategoricalFocalCrossentropy(alpha=alpha, gamma=float(gamma))
    if name == "class_balanced_focal":
        _positive_counts(class_counts, name)  # fail here with the loss's name, not later
        return ClassBalancedFocalLoss(class_counts, beta=beta, gamma=gamma)
    if name == "logit_adjusted":
        _positive_counts(class_counts, name)
        return LogitAdjustedLoss(class_counts, tau=tau)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
