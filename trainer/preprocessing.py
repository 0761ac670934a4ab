"""Transform's preprocessing_fn. Its graph is saved with the model, so serving decodes and
resizes images exactly as training did (no training/serving skew).

Transform stores each image as uint8 pixels at model size, serialized (`tf.io.serialize_tensor`)
into one bytes feature: a quarter of float32's bytes before compression. A tf.Example has no
uint8 list, and an int64 list costs a varint per pixel. `pixels_to_unit_range` turns them back
into the float [0, 1] pixels the model takes; the Trainer's input pipeline and the exported
serving signatures both call it, so the scaling is written once.
"""
import tensorflow as tf
import tensorflow_transform as tft

from schema.features import (IMAGE_KEY, LABEL_ID_KEY, LABEL_KEY, PIXELS_KEY, SPECIES_COUNTS,
                             SPECIES_VOCAB)


def decode_and_resize_uint8(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP of any channel count -> uint8 RGB [n, size, size, 3]."""
    def one(data):
        # channels=3 turns grayscale and RGBA into RGB; the first frame of a GIF is used.
        image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
        image.set_shape([None, None, 3])
        resized = tf.image.resize(image, [image_size, image_size], antialias=True)
        # Antialiased resizing can overshoot slightly; round into the uint8 range.
        return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)

    return tf.map_fn(one, image_bytes,
                     fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8))


def decode_and_resize(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded images -> float32 RGB [n, size, size, 3] in [0, 1], as the model sees them."""
    return to_unit_range(decode_and_resize_uint8(image_bytes, image_size))


def to_unit_range(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels -> float32 in [0, 1]."""
    return tf.cast(pixels, tf.float32) / 255.0


def serialize_pixels(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 [n, size, size, 3] -> [n] strings, one serialized image each."""
    return tf.map_fn(tf.io.serialize_tensor, pixels, fn_output_signature=tf.string)


def parse_pixels(serialized: tf.Tensor, image_size: int) -> tf.Tensor:
    """One serialized image (Transform's `pixels` feature) -> uint8 [size, size, 3]."""
    pixels = tf.io.parse_tensor(tf.reshape(serialized, []), tf.uint8)
    return tf.ensure_shape(pixels, [image_size, image_size, 3])


def pixels_to_unit_range(serialized: tf.Tensor, image_size: int) -> tf.Tensor:
    """[n] serialized images -> float32 [n, size, size, 3] in [0, 1]."""
    pixels = tf.map_fn(lambda s: parse_pixels(s, image_size), tf.reshape(serialized, [-1]),
                       fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8))
    return to_unit_range(pixels)


def preprocessing_fn(inputs, custom_config):
    image_size = int(custom_config["image_size"])
    pixels = decode_and_resize_uint8(tf.reshape(inputs[IMAGE_KEY], [-1]), image_size)
    outputs = {PIXELS_KEY: serialize_pixels(pixels)}
    if LABEL_KEY in inputs:  # absent at serving time
        species = tf.reshape(inputs[LABEL_KEY], [-1])
        outputs[LABEL_ID_KEY] = tft.compute_and_apply_vocabulary(
            species, vocab_filename=SPECIES_VOCAB)
        # The same analyzer with counts: the trainer's per-species train counts come from here.
        tft.vocabulary(species, vocab_filename=SPECIES_COUNTS, store_frequency=True)
    return outputs
