"""The SavedModel that the Pusher ships to TF Serving.

Signatures (the serving contract; README, "Serving over REST"):
  serving_default(image_bytes)  -> scores, classes (best first, aligned), label (the top species,
                                   or "unknown" below the abstain threshold)
  classify(inputs)              -> classes, scores: TF Serving's classification signature
                                   (serialized tf.Examples with the `image` feature), for
                                   :classify
  serving_examples(examples)    -> scores, classes, probabilities (probabilities in label-id
                                   order: what TFMA evaluates)
  transform_features(examples)  -> the Transform outputs, label included (TFMA's label)
The Transform graph is inside, so encoded images go in as they are.

`assets.extra/tf_serving_warmup_requests` holds a few PredictionLog records (serving_default
predict requests on real images) that TF Serving replays when it loads the model, so that the
first client request does not pay for graph initialisation.
"""
import os
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from trainer import losses, posthoc
from trainer.preprocessing import pixels_to_unit_range
from schema.features import IMAGE_KEY, PIXELS_KEY, SPECIES_VOCAB


class ServingModule(tf.Module):
    """The trained model with what the Trainer chose on the validation split applied to its
    scores (posthoc.py): scores = softmax((1 - w) * (log p - tau * log prior) + w * prototype
    log-probabilities). With tau = 0 and no prototypes the scores are the model's own."""

    def __init__(self, model: tf.keras.Model, tft_output: tft.TFTransformOutput,
                 posthoc_tau: float = 0.0, class_counts: Optional[Sequence[int]] = None,
                 prototypes=None, prototype_weight: float = 0.0, temperature: float = 1.0,
                 abstain_threshold: float = 0.0):
        super().__init__()
        # The Keras models are kept out of the SavedModel's object graph (set past tf.Module's
        # tracking): saving a tracked Keras model traces every layer's call for Keras' own
        # reloading, most of the export's time and of TF Serving's load, and nothing reloads
        # this model as Keras (a warm start reads the weights file, trainer/warm_start.py).
        # The variables are tracked instead, which is all the signatures need.
        self.__dict__["model"] = model
        self.model_variables = list(model.variables)
        self.temperature = float(temperature)
        self.abstain_threshold = tf.Variable(float(abstain_threshold), trainable=False,
                                             name="abstain_threshold")
        self.prototype_weight = float(prototype_weight)
        if self.prototype_weight:
            if prototypes is None:
                raise ValueError("a prototype weight needs the prototypes")
            # One forward pass gives the probabilities and the embedding the prototypes use.
            self.__dict__["scorer"] = tf.keras.Model(model.input,
                                                     [model.output, model.layers[-1].input])
            self.prototypes = tf.constant(np.asarray(prototypes, np.float32))
        self.tft_layer = tft_output.transform_features_layer()
        self.num_classes = int(model.output_shape[-1])
        self.image_size = int(model.input_shape[1])
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

    def _scores(self, pixels):
        scores = self._adjusted(pixels)
        if self.temperature != 1.0:
            scores = tf.nn.softmax(tf.math.log(tf.clip_by_value(scores, 1e-7, 1.0))
                                   / self.temperature, axis=-1)
        return scores

    def _adjusted(self, pixels):
        if not self.prototype_weight:
            probabilities = self.model(pixels, training=False)
            if self.posthoc_tau:
                probabilities = losses.posthoc_adjust(probabilities, self.class_counts,
                                                      self.posthoc_tau)
            return probabilities
        probabilities, embedding = self.scorer(pixels, training=False)
        log_scores = tf.math.log(tf.clip_by_value(probabilities, 1e-7, 1.0))
        if self.posthoc_tau:
            log_scores -= self.posthoc_tau * tf.constant(
                posthoc.log_prior(self.class_counts), tf.float32)
        cosine = tf.linalg.l2_normalize(embedding, axis=-1) @ tf.transpose(self.prototypes)
        prototype_log = tf.nn.log_softmax(posthoc.PROTOTYPE_SCALE * cosine, axis=-1)
        return tf.nn.softmax((1.0 - self.prototype_weight) * log_scores
                             + self.prototype_weight * prototype_log, axis=-1)

    def _predict(self, image_column):
        transformed = self.tft_layer({IMAGE_KEY: image_column})
        probabilities = self._scores(pixels_to_unit_range(transformed[PIXELS_KEY],
                                                          self.image_size))
        scores, ids = tf.math.top_k(probabilities, k=self.num_classes)
        return {"scores": scores,
                "classes": self.species_table.lookup(tf.cast(ids, tf.int64)),
                "probabilities": probabilities}

    def _label(self, outputs):
        return tf.where(outputs["scores"][:, 0] >= self.abstain_threshold,
                        outputs["classes"][:, 0], tf.constant(UNKNOWN))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_images(self, image_bytes):
        outputs = self._predict(tf.reshape(image_bytes, [-1, 1]))
        return {"scores": outputs["scores"], "classes": outputs["classes"],
                "label": self._label(outputs)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        parsed = tf.io.parse_example(inputs, self._image_spec)
        outputs = self._predict(parsed[IMAGE_KEY])
        return {"classes": outputs["classes"], "scores": outputs["scores"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, self._image_spec)
        return self._predict(parsed[IMAGE_KEY])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        return self.tft_layer(tf.io.parse_example(examples, self._raw_spec))


WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")  # TF Serving's name
UNKNOWN = "unknown"  # the label of an answer left to a person


def encode_warmup_images(pixels) -> List[bytes]:
    """Transformed pixels (float [n, size, size, 3] in [0, 1], what the Trainer reads) -> JPEG
    files at model size: real images, as a client would send them."""
    pixels = tf.convert_to_tensor(pixels, tf.float32)
    images = tf.cast(tf.round(tf.clip_by_value(pixels, 0.0, 1.0) * 255.0), tf.uint8)
    return [tf.io.encode_jpeg(image, quality=95).numpy() for image in images]


def warmup_request(images: Sequence[bytes]):
    """A PredictionLog holding one serving_default predict request for encoded images."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "serving_default"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(list(images), dtype=tf.string))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))


def classify_warmup_request(image: bytes):
    """A PredictionLog holding one `classify` request: a tf.Example with the image."""
    from tensorflow_serving.apis import classification_pb2, prediction_log_pb2
    request = classification_pb2.ClassificationRequest()
    request.model_spec.signature_name = "classify"
    example = request.input.example_list.examples.add()
    example.features.feature[IMAGE_KEY].bytes_list.value.append(image)
    return prediction_log_pb2.PredictionLog(
        classify_log=prediction_log_pb2.ClassifyLog(request=request))


def read_warmup_requests(path: str) -> list:
    """The PredictionLog records of a warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(path)]


def write_warmup_requests(module: ServingModule, export_dir: str,
                          images: Sequence[bytes]) -> str:
    """A serving_default predict request per image and a classify request for the first,
    written where TF Serving looks (it replays at most 1000 records). Each record is read back
    and run through its signature before the export counts as done: a warmup request that
    fails would stop TF Serving loading the model."""
    path = os.path.join(export_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    records = [warmup_request([image]) for image in images]
    records += [classify_warmup_request(images[0])] if images else []
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    logs = read_warmup_requests(path)
    if len(logs) != len(records):
        raise RuntimeError(f"{path}: wrote {len(records)} warmup requests, read {len(logs)}")
    for log in logs:
        if log.HasField("classify_log"):
            examples = log.classify_log.request.input.example_list.examples
            serialized = tf.constant([e.SerializeToString() for e in examples])
            if module.classify(inputs=serialized)["scores"].shape != (1, module.num_classes):
                raise RuntimeError(f"{path}: the classify warmup request failed")
            continue
        request = log.predict_log.request
        if request.model_spec.signature_name != "serving_default":
            raise RuntimeError(f"{path}: unexpected signature {request.model_spec}")
        inputs = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
        scores = module.serve_images(**inputs)["scores"]
        if scores.shape != (1, module.num_classes):
            raise RuntimeError(f"{path}: a warmup request gave scores of shape {scores.shape}")
    return path


def export(module: ServingModule, export_dir: str,
           warmup_images: Optional[Sequence[bytes]] = None) -> None:
    """Saves the SavedModel; with `warmup_images` (encoded image files) also the warmup
    requests for TF Serving."""
    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": module.serve_images,
        "classify": module.classify,
        "serving_examples": module.serve_examples,
        "transform_features": module.transform_features,
    })
    if warmup_images:
        write_warmup_requests(module, export_dir, warmup_images)
