"""trainer/warm_start.py: a model's Keras weights saved beside its export and loaded by layer
name into a new model; a changed species list keeps a fresh classifier, another image size is
an error."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import warm_start
from trainer.model import build_model


def model(classes: int, size: int = 32, seed: int = 0):
    tf.keras.utils.set_random_seed(seed)
    return build_model(classes, size, width=0.35, weights="none")


def test_weights_go_beside_the_export_and_load_by_layer_name(tmp_path):
    serving_dir = str(tmp_path / "model" / "Format-Serving")
    trained = model(3, seed=1)
    path = warm_start.save(trained, serving_dir)
    assert path == str(tmp_path / "model" / "keras" / "weights.h5")

    same_species = model(3, seed=2)
    loaded = warm_start.load(same_species, serving_dir)
    assert loaded["layers_kept_fresh"] == []
    for a, b in zip(trained.get_weights(), same_species.get_weights()):
        np.testing.assert_array_equal(a, b)

    new_species = model(4, seed=2)
    fresh_head = new_species.get_layer("probabilities").get_weights()
    loaded = warm_start.load(new_species, serving_dir)
    assert loaded["layers_kept_fresh"] == ["probabilities"]
    assert "head_dense_3" in loaded["layers_loaded"]
    for a, b in zip(new_species.get_layer("probabilities").get_weights(), fresh_head):
        np.testing.assert_array_equal(a, b)
    for layer in ("head_dense_1", "head_dense_3"):
        for a, b in zip(trained.get_layer(layer).get_weights(),
                        new_species.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_another_image_size_or_no_weights_is_an_error(tmp_path):
    serving_dir = str(tmp_path / "model" / "Format-Serving")
    with pytest.raises(ValueError, match="has no Keras weights"):
        warm_start.load(model(3), serving_dir)
    warm_start.save(model(3), serving_dir)
    with pytest.raises(ValueError, match="backbone does not fit"):
        warm_start.load(model(3, size=48), serving_dir)
