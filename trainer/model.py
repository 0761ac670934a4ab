"""Schneider's Camera Trap Species Classifier head on MobileNetV2, as the paper used it, and
where its ImageNet weights come from."""
import hashlib
import logging
import os

import tensorflow as tf

from schema.errors import UserError

log = logging.getLogger(__name__)

# Where Keras downloads MobileNetV2's ImageNet weights from (keras/src/applications/
# mobilenet_v2.py); RARESPECIES_WEIGHTS_URL points elsewhere (a mirror; the tests' local server).
KERAS_WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                     "mobilenet_v2/")
IMAGENET_SIZES = (96, 128, 160, 192, 224)
# MobileNetV2 halves the resolution five times. Below this many pixels a side its last feature
# map would be a single cell, so the first convolution keeps the full resolution (stride 1),
# as CIFAR-sized versions of these networks do (chosen on a dev split: benchmarks/README.md).
FULL_RESOLUTION_STEM_BELOW = 64
OFFLINE_ENV = "RARESPECIES_OFFLINE"


class WeightsNotFound(UserError, FileNotFoundError):
    """--weights names a file that is not there, or one that cannot be downloaded."""


def keras_cache() -> str:
    """Keras' model cache: $KERAS_HOME/models, else ~/.keras/models (as Keras 2.15's get_file;
    it ignores KERAS_HOME, so the weights' path is passed to Keras explicitly)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def imagenet_weights_name(width: float, image_size: int) -> str:
    rows = image_size if image_size in IMAGENET_SIZES else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(width)}_{rows}_no_top.h5"


def imagenet_weights_file(width: float, image_size: int) -> str:
    """The file Keras would look for (and otherwise download) for MobileNetV2's ImageNet weights."""
    return os.path.join(keras_cache(), imagenet_weights_name(width, image_size))


def offline_requested(offline: bool = False) -> bool:
    return offline or os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def download_imagenet_weights(width: float, image_size: int) -> str:
    """Downloads the weights file into Keras' cache as Keras does (tf.keras.utils.get_file,
    cache_subdir "models"); WeightsNotFound, naming the path to copy the file to, when it
    cannot. Keras publishes no hash for MobileNetV2's files (its own call passes none), so the
    file is checked by loading it into the model (build_model); its sha256 is logged."""
    name = imagenet_weights_name(width, image_size)
    origin = os.environ.get("RARESPECIES_WEIGHTS_URL", KERAS_WEIGHTS_URL).rstrip("/") + "/" + name
    target = imagenet_weights_file(width, image_size)
    # get_file falls back to /tmp/.keras when the cache folder is not there (not writable).
    os.makedirs(keras_cache(), exist_ok=True)
    try:
        path = tf.keras.utils.get_file(name, origin, cache_subdir="models",
                                       cache_dir=os.path.dirname(keras_cache()))
    except Exception as err:  # noqa: BLE001 - no network, a proxy, a 404: say what to do
        raise WeightsNotFound(
            f"--weights imagenet: could not download {origin} ({err}). Copy the file to "
            f"{target} from a machine with internet, or pass --weights PATH.h5") from None
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    log.info("downloaded %s to %s (sha256 %s)", origin, path, digest)
    return path


def resolve_weights(weights: str, width: float, image_size: int, offline: bool = False):
    """'none' -> None; 'imagenet' -> the cached file, downloaded when missing unless offline
    (WeightsNotFound then names the path to copy it to); else a local .h5 path."""
    if weights in (None, "", "none"):
        return None
    if weights == "imagenet":
        path = imagenet_weights_file(width, image_size)
        if os.path.exists(path):
            return path
        if offline_requested(offline):
            raise WeightsNotFound(
                f"--weights imagenet needs MobileNetV2's ImageNet weights at {path}, and "
                f"downloading is off (--offline or {OFFLINE_ENV}=1). Copy the file there from "
                f"a machine with internet (keras.applications.MobileNetV2(include_top=False, "
                f"weights='imagenet', alpha={width}) saves it), or pass --weights PATH.h5.")
        return download_imagenet_weights(width, image_size)
    if not os.path.exists(weights):
        raise WeightsNotFound(f"--weights {weights!r}: no such file (expected 'none', "
                              "'imagenet' or the path of an .h5 weights file)")
    return weights


def build_model(num_classes: int, image_size: int, width: float = 1.0, weights: str = "none",
                backbone: str = "full", offline: bool = False) -> tf.keras.Model:
    """MobileNetV2 (no top) -> GAP -> Dense 1024, 1024, 512 (ReLU) -> softmax, inputs in [0, 1].
    With pretrained weights the inputs are scaled to [-1, 1] inside the model first: the range
    MobileNetV2 was trained on (Keras' preprocess_input), which Keras leaves to the caller.
    Images under FULL_RESOLUTION_STEM_BELOW pixels a side get a stride-1 first convolution."""
    if backbone not in ("full", "frozen"):
        raise ValueError(f"backbone must be 'full' or 'frozen', not {backbone!r}")
    weights_path = resolve_weights(weights, width, image_size, offline)
    try:
        base = tf.keras.applications.MobileNetV2(
            input_shape=(image_size, image_size, 3), include_top=False, alpha=width,
            weights=weights_path)
    except (OSError, ValueError) as err:  # a truncated download, another model's file
        if weights_path is None:
            raise
        raise WeightsNotFound(f"could not load the weights in {weights_path} into MobileNetV2 "
                              f"(width {width}): {err}. Delete the file to download it again, "
                              "or pass another --weights") from None
    if image_size < FULL_RESOLUTION_STEM_BELOW:
        base = stem_at_full_resolution(base)
    if weights_path is None:
        # Keras' MobileNetV2 uses BatchNorm momentum 0.999, tuned for long ImageNet runs; from
        # scratch with a few hundred steps the moving statistics would still be near their
        # initial values at evaluation time, and the model would predict one class.
        for layer in base.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                layer.momentum = 0.9
        if backbone == "full":
            zero_init_residual_blocks(base)
    base.trainable = backbone == "full"

    inputs = tf.keras.Input((image_size, image_size, 3), name="pixels")
    # A frozen backbone also keeps its BatchNorm statistics (training=False).
    x = inputs
    if weights_path is not None:
        x = tf.keras.layers.Rescaling(2.0, offset=-1.0, name="imagenet_range")(x)
    x = base(x, training=False if backbone == "frozen" else None)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pooled_features")(x)
    # Named, so that a warm start (trainer/warm_start.py) finds each layer by name.
    x = tf.keras.layers.Dense(1024, activation="relu", name="head_dense_1")(x)
    x = tf.keras.layers.Dense(1024, activation="relu", name="head_dense_2")(x)
    x = tf.keras.layers.Dense(512, activation="relu", kernel_initializer="glorot_normal",
                              name="head_dense_3")(x)
    outputs = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name="rarespecies_mobilenetv2")


def stem_at_full_resolution(backbone: tf.keras.Model) -> tf.keras.Model:
    """The same backbone (layers, names and weights) with stride 1 in its first convolution:
    every later feature map is twice as large a side, and the compute about four times."""
    config = backbone.get_config()
    [stem] = [layer for layer in config["layers"] if layer["config"]["name"] == "Conv1"]
    stem["config"]["strides"] = (1, 1)  # "same" padding: the shape follows the stride
    restrided = tf.keras.Model.from_config(config)
    restrided.set_weights(backbone.get_weights())
    return restrided


def zero_init_residual_blocks(backbone: tf.keras.Model) -> None:
    """Starts each residual block of MobileNetV2 as the identity: the scale of the BatchNorm
    that ends the block's branch is set to zero ("zero-init residual", Goyal et al. 2017). From
    random weights the signal then crosses the stack unchanged at first and the short budgets of
    small data train much further (chosen on a dev split: benchmarks/README.md).
    Blocks without a skip connection (a stride or a channel change) keep their scale."""
    for layer in backbone.layers:
        if isinstance(layer, tf.keras.layers.Add):  # "block_N_add" joins "block_N_project_BN"
            branch_end = backbone.get_layer(layer.name[:-len("add")] + "project_BN")
            branch_end.gamma.assign(tf.zeros_like(branch_end.gamma))
