"""trainer/task.py's fit_stages: how many optimiser steps an epoch takes under each sampling,
with and without the per-species quota."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import data, task
from trainer.hparams import TrainerConfig

COUNTS = [120, 40, 6, 2]  # 168 images: 11 steps of 16 a pass


def examples():
    labels = np.concatenate([np.full(n, c, np.int64) for c, n in enumerate(COUNTS)])
    pixels = np.zeros((len(labels), 2, 2, 3), np.uint8)
    return tf.data.Dataset.from_tensor_slices((pixels, labels))


@pytest.mark.parametrize("sampling, quota, steps", [
    ("natural", 0, 11),     # one pass, as the paper
    ("natural", 100, 25),   # 4 species x 100 images: the pass repeated into a longer epoch
    ("balanced", 0, 11),
    ("balanced", 100, 25),
    ("balanced", 10, 11),   # a quota under the data's own size changes nothing
    ("quota", 100, 27),     # 120 + 3 x 100 images: the rare species raised, the common kept
    ("quota", 0, 11),
    ("auto", 100, 25),      # 42 images a species, under the quota: balanced
    ("auto", 40, 15),       # 42 a species, at least the quota: quota (120 + 40 + 2 x 40)
])
def test_an_epoch_takes_the_quota_s_steps(sampling, quota, steps):
    config = TrainerConfig(sampling=sampling, species_quota=quota, epochs=2, batch_size=16,
                           augmentation="none", seed=3)
    config, choice = task.resolve_sampling(config, COUNTS)
    if sampling == "auto":
        assert choice["chosen"] == config.sampling and choice["mean_train_images"] == 42.0
    else:
        assert choice is None
    model = tf.keras.Sequential([tf.keras.Input((2, 2, 3)), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(len(COUNTS), activation="softmax")])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    planned = data.steps_per_epoch(COUNTS, config.batch_size, config.species_quota,
                                   config.sampling)
    assert planned == steps
    task.fit_stages(model, config, examples(), COUNTS, data.CacheBudget(1.0, 2), planned, [])
    assert int(model.optimizer.iterations) == 2 * steps
