"""trainer/preprocessing.py: decode_and_resize eagerly, and preprocessing_fn through
tensorflow_transform's Beam implementation (in memory, a handful of rows)."""
import collections
import functools
import io
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from PIL import Image
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from schema.features import (IMAGE_KEY, LABEL_ID_KEY, LABEL_KEY, PIXELS_KEY, SPECIES_COUNTS,
                             SPECIES_VOCAB)
from tests.support.transformed_rows import label_id, pixels_bytes
from trainer import preprocessing


def encode(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def solid(mode, color, size=(12, 10)):
    return Image.new(mode, size, color)


def two_halves(size=(40, 20)):
    """Non-square: left half red, right half blue."""
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[:, : size[0] // 2] = (255, 0, 0)
    array[:, size[0] // 2:] = (0, 0, 255)
    return Image.fromarray(array)


IMAGES = {  # name -> (encoded bytes, expected RGB in [0, 1] everywhere or None, tolerance)
    "red_png": (encode(solid("RGB", (255, 0, 0)), "PNG"), (1.0, 0.0, 0.0), 1e-6),
    "red_jpeg": (encode(solid("RGB", (255, 0, 0)), "JPEG"), (1.0, 0.0, 0.0), 0.03),
    "gray_jpeg": (encode(solid("L", 128), "JPEG"), (128 / 255,) * 3, 0.01),
    "rgba_png": (encode(solid("RGBA", (0, 255, 0, 100)), "PNG"), (0.0, 1.0, 0.0), 1e-6),
    "palette_png": (encode(solid("RGB", (0, 0, 255)).convert("P"), "PNG"), (0.0, 0.0, 1.0), 1e-6),
    "noise_jpeg": (encode(Image.fromarray(
        np.random.RandomState(1).randint(0, 256, (33, 17, 3), dtype=np.uint8)), "JPEG"),
        None, None),
    "halves_png": (encode(two_halves(), "PNG"), None, None),
}
NAMES = list(IMAGES)


@pytest.fixture(scope="module")
def decoded():
    batch = tf.constant([IMAGES[name][0] for name in NAMES])
    return preprocessing.decode_and_resize(batch, 16).numpy()


def test_decode_and_resize_shape_dtype_range(decoded):
    assert decoded.shape == (len(NAMES), 16, 16, 3)
    assert decoded.dtype == np.float32
    assert decoded.min() >= 0.0 and decoded.max() <= 1.0
    noise = decoded[NAMES.index("noise_jpeg")]
    assert noise.std() > 0.05  # an image, not a constant


@pytest.mark.parametrize("name", [n for n in NAMES if IMAGES[n][1] is not None])
def test_decode_and_resize_colours(decoded, name):
    _, expected, tolerance = IMAGES[name]
    np.testing.assert_allclose(decoded[NAMES.index(name)],
                               np.broadcast_to(expected, (16, 16, 3)), atol=tolerance)


def test_grayscale_has_equal_channels(decoded):
    gray = decoded[NAMES.index("gray_jpeg")]
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-6)
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)


def test_non_square_is_stretched_not_cropped(decoded):
    halves = decoded[NAMES.index("halves_png")]
    # 40x20 -> 16x16: the left 8 columns come from the red half, the right 8 from the blue.
    np.testing.assert_allclose(halves[:, :7], np.broadcast_to((1, 0, 0), (16, 7, 3)), atol=1e-6)
    np.testing.assert_allclose(halves[:, 9:], np.broadcast_to((0, 0, 1), (16, 7, 3)), atol=1e-6)


def test_decode_and_resize_single_image_and_sizes():
    data = IMAGES["red_png"][0]
    out = preprocessing.decode_and_resize(tf.constant([data]), 3).numpy()
    assert out.shape == (1, 3, 3, 3)
    # Upsampling (12x10 -> 64x64) also works and keeps the colour.
    out = preprocessing.decode_and_resize(tf.constant([data]), 64).numpy()
    assert out.shape == (1, 64, 64, 3)
    np.testing.assert_allclose(out[0, :, :, 0], 1.0, atol=1e-6)


def test_decode_and_resize_rejects_garbage():
    with pytest.raises(tf.errors.InvalidArgumentError):
        preprocessing.decode_and_resize(tf.constant([b"not an image"]), 8)


# ---------------------------------------------------------------------------------------------
# preprocessing_fn through tft_beam

SPECIES_ROWS = ["House Finch"] * 3 + ["Araripe Manakin"] + ["Robin"] * 2
COLOURS = {"House Finch": (255, 0, 0), "Araripe Manakin": (0, 255, 0), "Robin": (0, 0, 255)}


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tft")
    raw = [{IMAGE_KEY: [encode(solid("RGB", COLOURS[s], size=(10 + i, 9)), "PNG")],
            LABEL_KEY: [s.encode()]} for i, s in enumerate(SPECIES_ROWS)]
    schema = schema_utils.schema_from_feature_spec({
        IMAGE_KEY: tf.io.FixedLenFeature([1], tf.string),
        LABEL_KEY: tf.io.FixedLenFeature([1], tf.string),
    })
    output_dir = str(tmp / "transform_output")
    data_file = str(tmp / "transformed.jsonl")
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config={"image_size": 8})

    def to_json(row):
        return json.dumps({LABEL_ID_KEY: label_id(row), PIXELS_KEY: pixels_bytes(row).hex()})

    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(tmp / "tft_tmp")):
        raw_data = pipeline | beam.Create(raw)
        (transformed_data, _), transform_fn = (
            (raw_data, dataset_metadata.DatasetMetadata(schema))
            | tft_beam.AnalyzeAndTransformDataset(fn))
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
        _ = (transformed_data | beam.Map(to_json)
             | beam.io.WriteToText(data_file, shard_name_template=""))
    with open(data_file) as handle:
        rows = [json.loads(line) for line in handle]
    return tft.TFTransformOutput(output_dir), rows


def test_preprocessing_fn_species_ids_match_vocabulary(transformed):
    tft_output, rows = transformed
    vocab = [v.decode() for v in tft_output.vocabulary_by_name(SPECIES_VOCAB)]
    # Most frequent first (counts 3, 2, 1 here: no ties).
    assert vocab == ["House Finch", "Robin", "Araripe Manakin"]
    assert len(rows) == len(SPECIES_ROWS)
    # Rows may come back in any order: recover each row's species from its colour.
    by_colour = {tuple(np.array(c) / 255.0): s for s, c in COLOURS.items()}
    seen = collections.Counter()
    for row in rows:
        serialized = bytes.fromhex(row[PIXELS_KEY])
        stored = tf.io.parse_tensor(serialized, tf.uint8).numpy()
        assert stored.dtype == np.uint8 and stored.shape == (8, 8, 3)
        # A quarter of float32's bytes, plus the serialized tensor's small header.
        assert len(serialized) < 8 * 8 * 3 + 32
        pixels = preprocessing.pixels_to_unit_range(tf.constant([serialized]), 8).numpy()[0]
        np.testing.assert_array_equal(pixels, stored / np.float32(255.0))
        colour = tuple(np.round(pixels[0, 0], 3))
        species = by_colour[colour]
        np.testing.assert_allclose(pixels, np.broadcast_to(colour, (8, 8, 3)), atol=1e-6)
        assert row[LABEL_ID_KEY] == vocab.index(species), species
        seen[species] += 1
    assert seen == collections.Counter(SPECIES_ROWS)


def test_preprocessing_fn_species_counts_vocabulary(transformed):
    tft_output, _ = transformed
    path = tft_output.vocabulary_file_by_name(SPECIES_COUNTS)
    assert os.path.basename(path) == SPECIES_COUNTS
    with tf.io.gfile.GFile(path) as handle:
        lines = handle.read().splitlines()
    # "<count> <name>" per line, names with spaces kept whole (trainer/task.py splits once).
    counts = {line.split(" ", 1)[1]: int(line.split(" ", 1)[0]) for line in lines}
    assert counts == dict(collections.Counter(SPECIES_ROWS))
    # Same order as the label-id vocabulary, so counts line up with label ids.
    names = [line.split(" ", 1)[1] for line in lines]
    assert names == [v.decode() for v in tft_output.vocabulary_by_name(SPECIES_VOCAB)]


def test_transform_graph_serves_images_without_label(transformed):
    """What trainer/export.py does at serving time: image only, no species."""
    tft_output, _ = transformed
    layer = tft_output.transform_features_layer()
    data = [IMAGES["red_png"][0], IMAGES["halves_png"][0]]
    out = layer({IMAGE_KEY: tf.constant([[d] for d in data])})
    assert PIXELS_KEY in out and LABEL_ID_KEY not in out
    np.testing.assert_allclose(preprocessing.pixels_to_unit_range(out[PIXELS_KEY], 8).numpy(),
                               preprocessing.decode_and_resize(tf.constant(data), 8).numpy(),
                               atol=1e-6)
