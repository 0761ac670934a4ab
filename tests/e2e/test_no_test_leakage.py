"""No training choice sees the test split: the same data with the test split's labels permuted
give a bit-identical trained model (the default recipe, which picks its epoch, classifier,
post-hoc tau and prototype weight on the validation split)."""
import os
import shutil

import numpy as np
import pytest

from pipeline.data import demo_data
from pipeline.local_runner import run_pipeline
from tests.support.pipeline_runs import small_config

pytestmark = pytest.mark.slow

SPECIES = ["Sora", "House Finch", "Robin", "Araripe Manakin"]
TRAIN = {"Sora": 20, "House Finch": 12, "Robin": 4, "Araripe Manakin": 2}


def trained_weights(config):
    import tensorflow as tf
    folder = os.path.join(config.pipeline_root, "Trainer", "model")
    (execution,) = os.listdir(folder)
    loaded = tf.saved_model.load(os.path.join(folder, execution, "Format-Serving"))
    return [v.numpy() for v in sorted(loaded.model_variables, key=lambda v: v.name)]


def test_permuting_the_test_labels_leaves_the_trained_model_bit_identical(tmp_path):
    data = tmp_path / "data"
    demo_data.generate(data, seed=4, image_size=40, species=SPECIES, train_counts=TRAIN,
                       test_counts={s: 4 for s in SPECIES}, workers=1)
    permuted = tmp_path / "permuted"
    shutil.copytree(data / "train", permuted / "train")
    for old, new in zip(SPECIES, SPECIES[1:] + SPECIES[:1]):  # test labels shifted by one
        shutil.copytree(data / "test" / old, permuted / "test" / new)

    runs = []
    for name, root in (("original", data), ("permuted", permuted)):
        config = small_config(tmp_path / "runs" / name, data_root=str(root), epochs=2,
                              classifier_retrain_epochs=2, enable_cache=False)
        run_pipeline(config)
        runs.append(config)
    first, second = (trained_weights(config) for config in runs)
    assert len(first) == len(second) > 100
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # The test split itself did change: Sora's test images are Araripe Manakin's now.
    sora = [(root / "test" / "Sora" / "0000.jpg").read_bytes() for root in (data, permuted)]
    assert sora[0] != sora[1]
