"""The SavedModel that the Pusher ships to TF Serving.

Signatures (design.md):
  serving_default(image_bytes)  -> scores, classes          (best first, aligned)
  serving_examples(examples)    -> scores, classes, probabilities (probabilities in label-id
                                   order: what TFMA evaluates)
  transform_features(examples)  -> the Transform outputs, label included (TFMA's label)
The Transform graph is inside, so encoded images go in as they are.
"""
from typing import Optional, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from trainer import losses
from trainer.preprocessing import IMAGE_KEY, PIXELS_KEY, SPECIES_VOCAB


class ServingModule(tf.Module):

    def __init__(self, model: tf.keras.Model, tft_output: tft.TFTransformOutput,
                 posthoc_tau: float = 0.0, class_counts: Optional[Sequence[int]] = None):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self.num_classes = int(model.output_shape[-1])
        # Species names travel as an asset (the vocabulary file), looked up by label id.
        self.species_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                tft_output.vocabulary_file_by_name(SPECIES_VOCAB),
                key_dtype=tf.int64, key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string, value_index=tf.lookup.TextFileIndex.WHOLE_LINE),
            default_value="")
        self.posthoc_tau = float(posthoc_tau)
        self.class_counts = list(class_counts) if class_counts is not None else None
        if self.posthoc_tau and self.class_counts is None:
            raise ValueError("post-hoc logit adjustment needs the per-species train counts")
        raw_spec = tft_output.raw_feature_spec()
        self._raw_spec = raw_spec
        self._image_spec = {IMAGE_KEY: raw_spec[IMAGE_KEY]}

    def _predict(self, image_column):
        transformed = self.tft_layer({IMAGE_KEY: image_column})
        probabilities = self.model(transformed[PIXELS_KEY], training=False)
        if self.posthoc_tau:
            probabilities = losses.posthoc_adjust(probabilities, self.class_counts,
                                                  self.posthoc_tau)
        scores, ids = tf.math.top_k(probabilities, k=self.num_classes)
        return {"scores": scores,
                "classes": self.species_table.lookup(tf.cast(ids, tf.int64)),
                "probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_images(self, image_bytes):
        outputs = self._predict(tf.reshape(image_bytes, [-1, 1]))
        return {"scores": outputs["scores"], "classes": outputs["classes"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, self._image_spec)
        return self._predict(parsed[IMAGE_KEY])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        return self.tft_layer(tf.io.parse_example(examples, self._raw_spec))


def export(module: ServingModule, export_dir: str) -> None:
    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": module.serve_images,
        "serving_examples": module.serve_examples,
        "transform_features": module.transform_features,
    })
