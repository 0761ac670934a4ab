"""Keras callbacks of the Trainer: one progress record per epoch (trainer/progress.py)."""
import time

import tensorflow as tf

from trainer import progress


class EpochProgress(tf.keras.callbacks.Callback):
    """Logs `epoch i/n  loss ...  accuracy ...  (s)` at the end of each epoch, or with
    `last_only` only at the end of the last one (a short stage, e.g. the classifier's
    re-training, whose time is then the stage's); `stage` names the stage."""

    def __init__(self, epochs: int, stage: str = "", last_only: bool = False):
        super().__init__()
        self.epochs, self.stage, self.last_only = epochs, stage, last_only
        self.started = self.stage_started = time.time()

    def on_train_begin(self, logs=None):
        self.stage_started = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if self.last_only and epoch + 1 < self.epochs:
            return
        started = self.stage_started if self.last_only else self.started
        progress.log.info(progress.epoch_line(epoch + 1, self.epochs, logs or {},
                                              time.time() - started, self.stage))
