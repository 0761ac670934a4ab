"""trainer.export's TF Serving warmup file, on a stand-in module (the real model's file is
checked in tests/e2e/test_pipeline_e2e.py)."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import export


class StandIn(tf.Module):
    """Has what write_warmup_requests uses: serve_images(image_bytes), classify(inputs) and
    num_classes."""

    def __init__(self, num_classes=3, wrong_shape=False):
        super().__init__()
        self.num_classes = num_classes
        self.wrong_shape = wrong_shape

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_images(self, image_bytes):
        pixels = tf.map_fn(lambda d: tf.reduce_mean(tf.cast(tf.io.decode_image(
            d, channels=3, expand_animations=False), tf.float32)), image_bytes,
            fn_output_signature=tf.float32)
        n = self.num_classes + (1 if self.wrong_shape else 0)
        return {"scores": tf.tile(pixels[:, None], [1, n])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        parsed = tf.io.parse_example(inputs, {"image": tf.io.FixedLenFeature([], tf.string)})
        return self.serve_images(parsed["image"])


def pixels(n=3, size=16):
    rng = np.random.RandomState(0)
    return rng.uniform(size=(n, size, size, 3)).astype("float32")


def test_encode_warmup_images_gives_model_size_jpegs():
    images = export.encode_warmup_images(pixels())
    assert len(images) == 3
    for data, original in zip(images, pixels()):
        assert data[:2] == b"\xff\xd8"  # JPEG
        decoded = tf.io.decode_jpeg(data).numpy() / 255.0
        assert decoded.shape == (16, 16, 3)
        assert abs(decoded.mean() - original.mean()) < 0.02


def test_write_warmup_requests_round_trip(tmp_path):
    images = export.encode_warmup_images(pixels())
    path = export.write_warmup_requests(StandIn(), str(tmp_path), images)
    assert path == str(tmp_path / "assets.extra" / "tf_serving_warmup_requests")
    logs = export.read_warmup_requests(path)
    assert len(logs) == 4  # a predict request per image, a classify request for the first
    for log, data in zip(logs, images):
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert request.inputs["image_bytes"].dtype == tf.string.as_datatype_enum
        assert tf.make_ndarray(request.inputs["image_bytes"]).tolist() == [data]
    assert logs[3].WhichOneof("log_type") == "classify_log"
    request = logs[3].classify_log.request
    assert request.model_spec.signature_name == "classify"
    (example,) = request.input.example_list.examples
    assert example.features.feature["image"].bytes_list.value == [images[0]]


def test_write_warmup_requests_checks_the_signature(tmp_path):
    with pytest.raises(RuntimeError, match="shape"):
        export.write_warmup_requests(StandIn(wrong_shape=True), str(tmp_path),
                                     export.encode_warmup_images(pixels(1)))
