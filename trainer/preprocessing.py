"""Transform's preprocessing_fn. Its graph is saved with the model, so serving decodes and
resizes images exactly as training did (no training/serving skew)."""
import tensorflow as tf
import tensorflow_transform as tft

from schema.features import (IMAGE_KEY, LABEL_ID_KEY, LABEL_KEY, PIXELS_KEY, SPECIES_COUNTS,
                             SPECIES_VOCAB)


def decode_and_resize(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP of any channel count -> float32 RGB [n, size, size, 3] in [0, 1]."""
    def one(data):
        # channels=3 turns grayscale and RGBA into RGB; the first frame of a GIF is used.
        image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
        image.set_shape([None, None, 3])
        return tf.image.resize(image, [image_size, image_size], antialias=True)

    pixels = tf.map_fn(one, image_bytes,
                       fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32))
    # Antialiased resizing can overshoot slightly; keep the model's input range exact.
    return tf.clip_by_value(pixels / 255.0, 0.0, 1.0)


def preprocessing_fn(inputs, custom_config):
    image_size = int(custom_config["image_size"])
    outputs = {PIXELS_KEY: decode_and_resize(tf.reshape(inputs[IMAGE_KEY], [-1]), image_size)}
    if LABEL_KEY in inputs:  # absent at serving time
        species = tf.reshape(inputs[LABEL_KEY], [-1])
        outputs[LABEL_ID_KEY] = tft.compute_and_apply_vocabulary(
            species, vocab_filename=SPECIES_VOCAB)
        # The same analyzer with counts: the trainer's per-species train counts come from here.
        tft.vocabulary(species, vocab_filename=SPECIES_COUNTS, store_frequency=True)
    return outputs
