"""Fast mode for a frozen backbone: compute the backbone's pooled features once, cache them,
and train only the head on them.

A sweep trains many heads on the same frozen backbone; with the features cached, each
configuration costs a few seconds of dense-layer training instead of a pass through
MobileNetV2 per epoch. Augmentation is off in this mode: the features are computed once.
"""
import hashlib
import io
import json
import os
from typing import Tuple

import numpy as np
import tensorflow as tf

FEATURES_LAYER = "pooled_features"  # the GlobalAveragePooling2D output of trainer.model


def split_model(model: tf.keras.Model) -> Tuple[tf.keras.Model, tf.keras.Model]:
    """(features, head) sharing the model's own layers: training the head trains the model."""
    pooled = model.get_layer(FEATURES_LAYER)
    features = tf.keras.Model(model.input, pooled.output)
    head_input = tf.keras.Input(pooled.output.shape[1:])
    x = head_input
    for layer in model.layers[model.layers.index(pooled) + 1:]:
        x = layer(x)
    return features, tf.keras.Model(head_input, x)


def cache_key(transform_output: str, config) -> str:
    """Features depend on the data (Transform output) and on the backbone, nothing else; a
    randomly initialised backbone also depends on the seed. `config`: a TrainerConfig."""
    backbone = {k: getattr(config, k) for k in ("image_size", "width", "weights")}
    backbone["inputs"] = "[-1, 1] when pretrained"  # older caches fed [0, 1]: not reused
    if config.weights in ("none", ""):
        backbone["seed"] = config.seed
    blob = json.dumps([os.path.abspath(transform_output), backbone], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _compute(features: tf.keras.Model, dataset) -> Tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for pixels, labels in dataset:
        xs.append(features(pixels, training=False).numpy())
        ys.append(labels.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def cached_features(features: tf.keras.Model, dataset, path: str) -> Tuple[np.ndarray, np.ndarray]:
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path, "rb") as handle:
            data = np.load(io.BytesIO(handle.read()))  # npz is a zip: needs a seekable file
            return data["x"], data["y"]
    x, y = _compute(features, dataset)
    tf.io.gfile.makedirs(os.path.dirname(path))
    tmp = f"{path}.tmp-{os.getpid()}"
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    with tf.io.gfile.GFile(tmp, "wb") as handle:
        handle.write(buffer.getvalue())
    tf.io.gfile.rename(tmp, path, overwrite=True)  # readers never see a half-written cache
    return x, y


def fit_head(model: tf.keras.Model, train, evaluation, cache_dir: str, key: str,
             epochs: int, batch_size: int, seed: int, **fit_kwargs):
    """Trains the head of a compiled `model` on cached features; returns the Keras history."""
    features, head = split_model(model)
    head.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    x_train, y_train = cached_features(features, train, os.path.join(cache_dir, f"{key}-train.npz"))
    x_eval, y_eval = cached_features(features, evaluation, os.path.join(cache_dir, f"{key}-valid.npz"))
    data = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
            .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True).batch(batch_size))
    return head.fit(data, epochs=epochs, validation_data=(x_eval, y_eval),
                    validation_freq=epochs, **fit_kwargs)
