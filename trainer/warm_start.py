"""Warm start: the Keras weights of each trained model are kept beside its SavedModel
(<model artifact>/keras/weights.h5; the Pusher ships only Format-Serving), and a Trainer with
--warm-start loads those of the latest blessed model (TFX's base_model input) into its freshly
built model, layer by layer name. A layer whose shape changed (the classifier, when the species
list changed) keeps its fresh weights; a backbone that does not fit (another image size or
width) is an error, since nothing useful would be kept."""
import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)
WEIGHTS_FILE = os.path.join("keras", "weights.h5")


def weights_path(serving_model_dir: str) -> str:
    """Where the Keras weights of the model exported to `serving_model_dir` (a Trainer's
    <model uri>/Format-Serving) are kept."""
    return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), WEIGHTS_FILE)


def save(model: tf.keras.Model, serving_model_dir: str) -> str:
    path = weights_path(serving_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tempfile.TemporaryDirectory() as tmp:  # h5py writes local files; the uri may be gs://
        local = os.path.join(tmp, "weights.h5")
        model.save_weights(local)
        tf.io.gfile.copy(local, path, overwrite=True)
    return path


def load(model: tf.keras.Model, base_serving_dir: str) -> dict:
    """Loads the base model's weights into `model` by layer name; returns what was loaded
    ({"from", "layers_loaded", "layers_kept_fresh"}). ValueError when the base model has no
    Keras weights or its backbone does not fit."""
    path = weights_path(base_serving_dir)
    if not tf.io.gfile.exists(path):
        raise ValueError(f"--warm-start: the latest blessed model has no Keras weights ({path}); "
                         "it was trained before warm starts were possible. Run once without "
                         "--warm-start")
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "weights.h5")
        with tf.io.gfile.GFile(path, "rb") as source, open(local, "wb") as target:
            shutil.copyfileobj(source, target)
        model.load_weights(local, by_name=True, skip_mismatch=True)
    loaded, fresh = [], []
    for layer in model.layers:
        if not before[layer.name]:
            continue
        changed = any(not np.array_equal(a, b) for a, b in zip(before[layer.name],
                                                                 layer.get_weights()))
        (loaded if changed else fresh).append(layer.name)
    if any(name.startswith("mobilenetv2") for name in fresh):
        raise ValueError("--warm-start: the latest blessed model's backbone does not fit this "
                         "one (another --image-size or --width?); run without --warm-start")
    if fresh:
        log.warning("warm start from %s: layers %s start afresh (their shape changed)",
                    base_serving_dir, ", ".join(fresh))
    log.info("warm start from %s: %d layers loaded", base_serving_dir, len(loaded))
    return {"from": base_serving_dir, "layers_loaded": loaded, "layers_kept_fresh": fresh}
