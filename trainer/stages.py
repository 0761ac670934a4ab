"""Training stages beyond model.fit; whatever they choose, they choose on the validation split:

  BestEpoch      scores the validation split after each epoch (logged with the epoch's
                 progress line) and, at the end, keeps the weights that score best;
  WeightAverage  the mean of the weights over the last epochs (stochastic weight averaging);
  retrain_classifier  the decoupled second stage (cRT, Kang et al. 2020): the backbone and
                 head are frozen, the classifier layer is re-initialised and re-trained on
                 class-balanced batches of the train split's embeddings (with
                 --validation-classifier, of the validation split's too);
  validation_folds  the validation split's folds, each scored by a classifier re-trained
                 without it (cross-fitting; trainer/task.py's choose_on_validation).
"""
import logging
from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf

from trainer import posthoc, sampling
from trainer.callbacks import EpochProgress

log = logging.getLogger(__name__)
CLASSIFIER_LEARNING_RATE = 1e-3


def embedding_model(model: tf.keras.Model) -> tf.keras.Model:
    """The model's input -> the input of its classifier layer (the last Dense)."""
    return tf.keras.Model(model.input, model.layers[-1].input)


class BestEpoch(tf.keras.callbacks.Callback):
    """Scores the validation split after each epoch (macro-F1) and keeps the best weights."""

    def __init__(self, pixels, labels: np.ndarray, num_classes: int, restore: bool,
                 scorer: Optional[tf.keras.Model] = None):
        """`pixels`: the validation images (an array, or a dataset of batches without labels)
        in the order of `labels`. `scorer`: a plain copy of the model to score with, given
        the model's weights each epoch (across workers, where the model's own predict would
        split the validation split between them)."""
        super().__init__()
        self.scorer = scorer
        self.pixels, self.labels, self.num_classes = pixels, labels, num_classes
        self.restore = restore
        self.best_f1, self.best_epoch, self.best_weights = -1.0, None, None
        self.history: List[float] = []
        self.kept = "the last epoch's weights"

    def _validation_f1(self) -> float:
        batching = {} if isinstance(self.pixels, tf.data.Dataset) else dict(batch_size=256)
        probabilities = (self.scorer or self.model).predict(self.pixels, verbose=0, **batching)
        return posthoc.macro_f1(self.labels, probabilities.argmax(axis=1), self.num_classes)

    def on_epoch_end(self, epoch, logs=None):
        # Read every epoch, whatever the score: across workers, reading the weights is an
        # all-reduce (BatchNorm's statistics) that every worker must join.
        weights = self.model.get_weights()
        if self.scorer is not None:
            self.scorer.set_weights(weights)
        f1 = self._validation_f1()
        self.history.append(f1)
        if logs is not None:
            logs["val_macro_f1"] = f1  # shown on the epoch's progress line
        if f1 > self.best_f1:
            self.best_f1, self.best_epoch = f1, epoch + 1
            if self.restore:
                self.best_weights = weights

    def finish(self, average: Optional["WeightAverage"] = None) -> None:
        """After every fit call of the run (a run may fit in stages), sets the weights kept:
        the mean of the last epochs' when `average` holds some, else the last epoch's; with
        restoring on, the best single epoch's instead if its validation macro-F1 is higher."""
        if average is not None and average.count:
            weights = average.mean()
            self.model.set_weights(weights)
            if self.scorer is not None:
                self.scorer.set_weights(weights)
            average_f1 = self._validation_f1()
            last = average.first_epoch + average.count - 1
            epochs = (f"epoch {last}" if average.count == 1
                      else f"epochs {average.first_epoch}-{last}")
            self.kept = (f"the mean of the weights of {epochs} (validation macro-F1 "
                         f"{average_f1:.3f})")
            if not self.restore or self.best_f1 <= average_f1:
                return
        if self.restore and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.kept = (f"the weights of epoch {self.best_epoch} (validation macro-F1 "
                         f"{self.best_f1:.3f})")


class WeightAverage(tf.keras.callbacks.Callback):
    """The running mean of the weights at the end of each epoch from `first_epoch` (1-based)
    on: stochastic weight averaging (Izmailov et al. 2018), at the schedule's own learning
    rate. The mean of the last epochs' weights tends to generalise better than any one of them,
    and it needs no choice on validation, whose per-epoch scores jump on small data.
    BatchNorm's moving statistics are averaged with the other weights rather than re-estimated
    with a pass over the train split: on the dev split that chose this, that was enough
    (benchmarks/README.md)."""

    def __init__(self, first_epoch: int):
        super().__init__()
        self.first_epoch, self.count = first_epoch, 0
        self._sum: Optional[List[np.ndarray]] = None
        self._dtypes: List[np.dtype] = []

    @classmethod
    def over_last(cls, share: float, epochs: int) -> Optional["WeightAverage"]:
        """The average over the last `share` of `epochs`, rounded (--average-last; at least
        one epoch when the share is above 0), or None for 0."""
        if share <= 0:
            return None
        return cls(epochs - min(epochs, max(1, int(round(share * epochs)))) + 1)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.first_epoch:
            return
        # Every worker reads (an all-reduce across them), as BestEpoch does.
        weights = self.model.get_weights()
        if self._sum is None:
            self._sum = [w.astype(np.float64) for w in weights]
            self._dtypes = [w.dtype for w in weights]
        else:
            for total, w in zip(self._sum, weights):
                total += w
        self.count += 1

    def mean(self) -> List[np.ndarray]:
        return [(total / self.count).astype(dtype) for total, dtype in zip(self._sum,
                                                                            self._dtypes)]


def embeddings_and_labels(embed: tf.keras.Model, batches) -> Tuple[np.ndarray, np.ndarray]:
    """One pass over (pixels, label id) batches: the outputs of `embed` (embedding_model's)
    and the labels, in the same order."""
    embeddings, labels = [], []
    for pixels, ids in batches:
        embeddings.append(embed.predict_on_batch(pixels))
        labels.append(ids.numpy())
    return np.concatenate(embeddings), np.concatenate(labels)


def classify_embeddings(model: tf.keras.Model, embeddings: np.ndarray) -> np.ndarray:
    """The classifier layer's probabilities for embeddings (embedding_model's outputs)."""
    return model.layers[-1](tf.constant(embeddings, tf.float32)).numpy()


def retrain_classifier(model: tf.keras.Model, embeddings: np.ndarray,
                       train_labels: np.ndarray, epochs: int, batch_size: int,
                       seed: int) -> None:
    """Re-trains `model`'s classifier layer in place on class-balanced batches of the train
    split's frozen embeddings (embedding_model's outputs, computed once without augmentation)."""
    classifier = model.layers[-1]
    num_classes = classifier.units
    counts = np.bincount(train_labels, minlength=num_classes)
    per_class = [tf.data.Dataset.from_tensor_slices(
        (embeddings[train_labels == c], tf.one_hot(train_labels[train_labels == c], num_classes)))
        for c in range(num_classes)]
    batches = sampling.sampled(per_class, sampling.class_weights(counts, "balanced"), seed)
    inputs = tf.keras.Input(embeddings.shape[1:])
    head = tf.keras.Model(inputs, classifier(inputs))
    kernel_init = tf.keras.initializers.GlorotUniform(seed=seed)
    classifier.kernel.assign(kernel_init(classifier.kernel.shape))
    classifier.bias.assign(tf.zeros_like(classifier.bias))
    head.compile(optimizer=tf.keras.optimizers.Adam(CLASSIFIER_LEARNING_RATE),
                 loss=tf.keras.losses.CategoricalCrossentropy())
    head.optimizer.build(head.trainable_variables)  # traced once (see task.run_fn)
    steps = max(1, int(np.ceil(len(train_labels) / batch_size)))
    head.fit(batches.batch(batch_size), epochs=epochs, steps_per_epoch=steps, verbose=0,
             callbacks=[EpochProgress(epochs, stage="classifier re-training", last_only=True)])


def validation_folds(labels: np.ndarray, folds: int, seed: int) -> List[np.ndarray]:
    """`folds` boolean masks over `labels` that split each class's examples as evenly as can be,
    in a seeded order: every example is in exactly one fold."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    which = np.zeros(len(labels), int)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        # Each class starts where the last left off, so that classes of one image spread over
        # the folds instead of all landing in the first.
        which[members] = (np.arange(len(members)) + c) % folds
    return [which == k for k in range(folds)]


def classifier_weights(model: tf.keras.Model) -> List[np.ndarray]:
    return model.layers[-1].get_weights()


def set_classifier_weights(model: tf.keras.Model, weights: List[np.ndarray]) -> None:
    model.layers[-1].set_weights(weights)


def choose(candidates: List[Tuple[str, posthoc.Adjustment]]) -> Tuple[str, posthoc.Adjustment]:
    """The candidate with the best validation macro-F1 (the first on a tie)."""
    best: Optional[Tuple[str, posthoc.Adjustment]] = None
    for name, adjustment in candidates:
        if best is None or adjustment.validation_f1 > best[1].validation_f1 + 1e-12:
            best = (name, adjustment)
    return best
