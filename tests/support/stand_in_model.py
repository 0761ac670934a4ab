"""A small SavedModel with the pipeline's serving contract (image_bytes -> scores, classes best
first; serving_examples), and helpers to push versions of it and make images: for the serving
tests and the serving benchmarks, which need a model in seconds rather than a pipeline run."""
import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image


def build_stand_in(export_dir: Path, species: list, seed: int,
                   abstain_threshold: float = 0.0) -> None:
    """A SavedModel with the pipeline's serving contract: decode -> 8x8 -> linear -> softmax;
    `label` is "unknown" where the top score is below `abstain_threshold`."""
    import tensorflow as tf
    rng = np.random.RandomState(seed)
    n = len(species)

    class StandIn(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.normal(scale=0.4, size=(8 * 8 * 3, n)).astype("float32"))
            self.b = tf.Variable(rng.normal(scale=0.1, size=n).astype("float32"))
            self.names = tf.Variable(species, dtype=tf.string, trainable=False)
            self.abstain_threshold = tf.Variable(abstain_threshold, trainable=False)

        def _probabilities(self, images):
            def features(data):
                image = tf.io.decode_image(data, channels=3, expand_animations=False)
                image = tf.image.resize(tf.cast(image, tf.float32) / 255.0 - 0.5, [8, 8])
                return tf.reshape(image, [-1])
            x = tf.map_fn(features, images, fn_output_signature=tf.TensorSpec([192], tf.float32))
            return tf.nn.softmax(tf.matmul(x, self.w) + self.b)

        def _sorted(self, probabilities):
            top = tf.math.top_k(probabilities, k=n)
            return {"scores": top.values, "classes": tf.gather(self.names, top.indices)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, image_bytes):
            outputs = self._sorted(self._probabilities(image_bytes))
            sure = outputs["scores"][:, 0] >= self.abstain_threshold
            return dict(outputs, label=tf.where(sure, outputs["classes"][:, 0], "unknown"))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            parsed = tf.io.parse_example(inputs, {"image": tf.io.FixedLenFeature([], tf.string)})
            return self._sorted(self._probabilities(parsed["image"]))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve_examples(self, examples):
            parsed = tf.io.parse_example(examples, {"image": tf.io.FixedLenFeature([], tf.string)})
            probabilities = self._probabilities(parsed["image"])
            return dict(self._sorted(probabilities), probabilities=probabilities)

    module = StandIn()
    tf.saved_model.save(module, str(export_dir), signatures={
        "serving_default": module.serve, "classify": module.classify,
        "serving_examples": module.serve_examples})


def push(export_dir: Path, base: Path, version: int) -> None:
    """Copy then rename, as a careful pusher does, so the server never sees half a version."""
    staging = base / f".tmp-{version}"
    shutil.copytree(export_dir, staging)
    staging.rename(base / str(version))


def image_bytes(seed: int, fmt: str = "JPEG", size=(24, 18)) -> bytes:
    rng = np.random.RandomState(seed)
    # A per-seed colour plus noise: different images get clearly different predictions.
    noise = rng.normal(scale=40, size=(size[1], size[0], 3))
    pixels = np.clip(rng.randint(0, 256, size=3) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()
