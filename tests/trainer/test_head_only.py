"""The frozen-backbone fast mode: a head that shares the model's layers, and a feature cache."""
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from trainer import head_only
from trainer.hparams import TrainerConfig
from trainer.model import build_model


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    m = build_model(3, 32, width=0.35, backbone="frozen")
    m.compile(tf.keras.optimizers.Adam(1e-2), tf.keras.losses.CategoricalCrossentropy())
    return m


def batches(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 32, 32, 3), dtype=np.float32)
    y = tf.one_hot(np.arange(n) % 3, 3).numpy()
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(4), x


def test_head_on_features_equals_the_model(model):
    features, head = head_only.split_model(model)
    _, x = batches()
    np.testing.assert_allclose(head(features(x)).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_fit_head_trains_the_model_and_reuses_the_cache(model, tmp_path, monkeypatch):
    data, x = batches()
    before = model(x).numpy()
    backbone_before = model.get_layer("mobilenetv2_0.35_32").get_weights()[0].copy()
    head_only.fit_head(model, data, data, str(tmp_path), "k", epochs=2, batch_size=4, seed=0,
                       verbose=0)
    assert not np.allclose(model(x).numpy(), before), "training the head must change the model"
    np.testing.assert_array_equal(model.get_layer("mobilenetv2_0.35_32").get_weights()[0],
                                  backbone_before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k-train.npz", "k-valid.npz"]

    def no_recompute(*args):
        raise AssertionError("features were computed again instead of read from the cache")
    monkeypatch.setattr(head_only, "_compute", no_recompute)
    head_only.fit_head(model, data, data, str(tmp_path), "k", epochs=1, batch_size=4, seed=0,
                       verbose=0)


def test_cache_key_depends_on_data_and_backbone_only():
    config = TrainerConfig(image_size=64, width=1.0, weights="none", seed=1,
                           loss="cross_entropy")
    key = head_only.cache_key("/t/1", config)
    assert key == head_only.cache_key("/t/1", replace(config, loss="sigmoid_focal", gamma=2.0))
    assert key != head_only.cache_key("/t/2", config)
    assert key != head_only.cache_key("/t/1", replace(config, seed=2))  # random backbone per seed
    pretrained = replace(config, weights="imagenet")
    assert head_only.cache_key("/t/1", pretrained) == \
        head_only.cache_key("/t/1", replace(pretrained, seed=2))
