"""Schneider's Camera Trap Species Classifier head on MobileNetV2, as the paper used it."""
import os

import tensorflow as tf

# Keras keeps downloaded ImageNet weights here; nothing is downloaded at run time.
KERAS_CACHE = os.path.join(os.path.expanduser("~"), ".keras", "models")
IMAGENET_SIZES = (96, 128, 160, 192, 224)


def imagenet_weights_file(width: float, image_size: int) -> str:
    """The file Keras would look for (and otherwise download) for MobileNetV2's ImageNet weights."""
    rows = image_size if image_size in IMAGENET_SIZES else 224
    return os.path.join(KERAS_CACHE,
                        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(width)}_{rows}_no_top.h5")


def resolve_weights(weights: str, width: float, image_size: int):
    """'none' -> None; 'imagenet' -> the cached file or a clear error; else a local .h5 path."""
    if weights in (None, "", "none"):
        return None
    if weights == "imagenet":
        path = imagenet_weights_file(width, image_size)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"--weights imagenet needs MobileNetV2's ImageNet weights at {path} (this machine "
                "downloads nothing at run time). Copy the file there from a machine with internet "
                "(keras.applications.MobileNetV2(include_top=False, weights='imagenet', "
                f"alpha={width}) saves it), or pass --weights /path/to/weights.h5.")
        return path
    if not os.path.exists(weights):
        raise FileNotFoundError(f"--weights {weights!r}: no such file (expected 'none', "
                                "'imagenet' or the path of an .h5 weights file)")
    return weights


def build_model(num_classes: int, image_size: int, width: float = 1.0, weights: str = "none",
                backbone: str = "full") -> tf.keras.Model:
    """MobileNetV2 (no top) -> GAP -> Dense 1024, 1024, 512 (ReLU) -> softmax, inputs in [0, 1]."""
    if backbone not in ("full", "frozen"):
        raise ValueError(f"backbone must be 'full' or 'frozen', not {backbone!r}")
    weights_path = resolve_weights(weights, width, image_size)
    base = tf.keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), include_top=False, alpha=width,
        weights=weights_path)
    if weights_path is None:
        # Keras' MobileNetV2 uses BatchNorm momentum 0.999, tuned for long ImageNet runs; from
        # scratch with a few hundred steps the moving statistics would still be near their
        # initial values at evaluation time, and the model would predict one class.
        for layer in base.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                layer.momentum = 0.9
    base.trainable = backbone == "full"

    inputs = tf.keras.Input((image_size, image_size, 3), name="pixels")
    # A frozen backbone also keeps its BatchNorm statistics (training=False).
    x = base(inputs, training=False if backbone == "frozen" else None)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pooled_features")(x)
    x = tf.keras.layers.Dense(1024, activation="relu")(x)
    x = tf.keras.layers.Dense(1024, activation="relu")(x)
    x = tf.keras.layers.Dense(512, activation="relu", kernel_initializer="glorot_normal")(x)
    outputs = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name="rarespecies_mobilenetv2")
