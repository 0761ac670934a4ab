"""trainer/model.py: the MobileNetV2 + Schneider head, weights resolution, BatchNorm momentum
and zero-initialised residual blocks.
Small models (width 0.35, 32x32 inputs) so that each build takes a second or two."""
import functools
import http.server
import os
import shutil
import threading

import numpy as np
import pytest
import tensorflow as tf

from trainer import model as model_lib
from trainer.model import build_model

SIZE, WIDTH, CLASSES = 32, 0.35, 5
# Schneider's head on MobileNetV2's 1280 output channels (1280 for any width <= 1.0).
HEAD_PARAMS = (1280 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 512 + 512) + (512 * 5 + 5)


@pytest.fixture(scope="module")
def scratch():
    """The default model: weights 'none', full backbone. Built once; tests only run it."""
    tf.keras.backend.clear_session()
    return build_model(num_classes=CLASSES, image_size=SIZE, width=WIDTH)


@pytest.fixture(scope="module")
def frozen():
    return build_model(CLASSES, SIZE, WIDTH, backbone="frozen")


def backbone_of(model):
    [base] = [layer for layer in model.layers if isinstance(layer, tf.keras.Model)]
    return base


def count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def test_output_shape_and_probabilities(scratch):
    model = scratch
    assert model.output_shape == (None, CLASSES)
    assert model.input_shape == (None, SIZE, SIZE, 3)
    assert model.get_layer("probabilities").activation is tf.keras.activations.softmax
    x = np.random.RandomState(0).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    probabilities = model(x, training=False).numpy()
    assert probabilities.shape == (4, CLASSES)
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # The head: GAP -> 1024 -> 1024 -> 512 (glorot_normal) -> n.
    dense = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Dense)]
    assert [d.units for d in dense] == [1024, 1024, 512, CLASSES]
    assert [d.activation.__name__ for d in dense] == ["relu", "relu", "relu", "softmax"]
    assert isinstance(dense[2].kernel_initializer, tf.keras.initializers.GlorotNormal)


def test_frozen_backbone_trains_only_the_head(scratch, frozen):
    full = scratch
    full_trainable = count(full.trainable_weights)
    full_backbone = count(backbone_of(full).trainable_weights)
    assert full_backbone > 0
    assert full_trainable == HEAD_PARAMS + full_backbone

    assert count(frozen.trainable_weights) == HEAD_PARAMS
    assert len(frozen.trainable_weights) == 8  # 4 Dense layers: kernel and bias each
    assert backbone_of(frozen).trainable_weights == []
    assert count(frozen.weights) == count(full.weights)


def test_frozen_backbone_keeps_batchnorm_statistics_in_training(frozen):
    bn = backbone_of(frozen).get_layer("bn_Conv1")
    before = bn.moving_mean.numpy().copy()
    x = np.random.RandomState(1).uniform(0, 1, (4, SIZE, SIZE, 3)).astype(np.float32)
    frozen(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)


@pytest.mark.parametrize("size, stem_stride, last_map", [(32, 1, 2), (64, 2, 2), (96, 2, 3)])
def test_small_images_keep_the_stems_full_resolution(size, stem_stride, last_map):
    base = backbone_of(build_model(CLASSES, size, WIDTH))
    assert base.get_layer("Conv1").strides == (stem_stride, stem_stride)
    assert base.get_layer("Conv1").output_shape[1] == size // stem_stride
    assert base.output_shape[1:3] == (last_map, last_map)


def test_unknown_backbone_mode():
    with pytest.raises(ValueError, match="backbone"):
        build_model(CLASSES, SIZE, WIDTH, backbone="half")


def test_batchnorm_momentum_from_scratch(scratch):
    model = scratch
    base = backbone_of(model)
    bns = [l for l in base.layers if isinstance(l, tf.keras.layers.BatchNormalization)]
    assert len(bns) > 30
    assert {bn.momentum for bn in bns} == {0.9}
    # And the momentum is the one used in training: moving mean = 0.9 * 0 + 0.1 * batch mean.
    bn = base.get_layer("bn_Conv1")
    conv_out = tf.keras.Model(base.input, base.get_layer("Conv1").output)
    x = np.random.RandomState(2).uniform(0, 1, (8, SIZE, SIZE, 3)).astype(np.float32)
    batch_mean = conv_out(x).numpy().mean(axis=(0, 1, 2))
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)
    model(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * batch_mean, rtol=1e-4, atol=1e-6)


def test_residual_blocks_start_as_the_identity_from_scratch(scratch, frozen):
    base = backbone_of(scratch)
    added = [l.name[:-len("_add")] for l in base.layers if isinstance(l, tf.keras.layers.Add)]
    assert len(added) == 10  # MobileNetV2's blocks with a skip connection
    gammas = {l.name: l.gamma.numpy() for l in base.layers
              if isinstance(l, tf.keras.layers.BatchNormalization)}
    for name, gamma in gammas.items():
        zeroed = name.endswith("_project_BN") and name[:-len("_project_BN")] in added
        np.testing.assert_array_equal(gamma, 0.0 if zeroed else 1.0, err_msg=name)
    # So each such block passes its input through: its output equals its input.
    block_in = base.get_layer("block_1_project_BN").output
    block = tf.keras.Model(base.input, [block_in, base.get_layer("block_2_add").output])
    x = np.random.RandomState(5).uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    into, out = block(x, training=False)
    np.testing.assert_allclose(out.numpy(), into.numpy(), atol=1e-6)
    # A frozen random backbone is a fixed feature extractor: nothing is zeroed there.
    frozen_gammas = [l.gamma.numpy() for l in backbone_of(frozen).layers
                     if isinstance(l, tf.keras.layers.BatchNormalization)]
    assert all(np.all(g == 1.0) for g in frozen_gammas)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A backbone's weights saved with save_weights to an .h5 file: (path, values)."""
    path = str(tmp_path_factory.mktemp("weights") / "backbone.h5")
    tf.keras.utils.set_random_seed(3)
    reference = tf.keras.applications.MobileNetV2(include_top=False, weights=None, alpha=WIDTH,
                                                  input_shape=(SIZE, SIZE, 3))
    reference.save_weights(path)
    return path, reference.get_weights()


def assert_same_weights(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_weights_from_h5_path(saved):
    path, expected = saved
    tf.keras.utils.set_random_seed(4)  # a different seed: equality cannot be by chance
    model = build_model(CLASSES, SIZE, WIDTH, weights=path)
    base = backbone_of(model)
    assert_same_weights(base.get_weights(), expected)
    # Pretrained: Keras' own BatchNorm momentum is kept.
    bns = [l for l in base.layers if isinstance(l, tf.keras.layers.BatchNormalization)]
    assert {bn.momentum for bn in bns} == {0.999}
    # Pretrained: the backbone sees [-1, 1], the range its weights were trained on.
    scaled = model.get_layer("imagenet_range")
    np.testing.assert_allclose(scaled(tf.constant([0.0, 0.5, 1.0])).numpy(), [-1.0, 0.0, 1.0])
    assert model.layers.index(scaled) < model.layers.index(base)


def test_random_weights_take_the_pixels_as_they_are(scratch):
    assert "imagenet_range" not in [layer.name for layer in scratch.layers]


def test_weights_nonexistent_path(tmp_path):
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError, match="no such file") as info:
        build_model(CLASSES, SIZE, WIDTH, weights=missing)
    assert missing in str(info.value)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, online unless a test says otherwise."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(model_lib.OFFLINE_ENV, raising=False)
    return tmp_path / "keras" / "models"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_imagenet_offline_names_the_path_to_copy_the_file_to(keras_home, monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv(model_lib.OFFLINE_ENV, "1")
    expected = str(keras_home / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
    with pytest.raises(model_lib.WeightsNotFound) as info:
        build_model(CLASSES, SIZE, WIDTH, weights="imagenet", offline=how == "flag")
    message = str(info.value)
    assert expected in message                      # where to copy it
    assert "--weights PATH.h5" in message and "--offline" in message
    assert "weights='imagenet'" in message and "alpha=0.35" in message
    assert not keras_home.exists()                  # nothing downloaded


@pytest.fixture
def weights_server(saved, tmp_path):
    """A local HTTP server (127.0.0.1) with the saved weights under Keras' file name."""
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(saved[0], root / model_lib.imagenet_weights_name(WIDTH, SIZE))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_imagenet_is_downloaded_into_keras_cache_when_missing(keras_home, weights_server,
                                                              monkeypatch, saved):
    monkeypatch.setenv("RARESPECIES_WEIGHTS_URL", weights_server)
    tf.keras.utils.set_random_seed(7)
    model = build_model(CLASSES, SIZE, WIDTH, weights="imagenet")
    assert_same_weights(backbone_of(model).get_weights(), saved[1])
    cached = keras_home / model_lib.imagenet_weights_name(WIDTH, SIZE)
    assert cached.read_bytes() == open(saved[0], "rb").read()
    # Next time from the cache: the server is not asked again.
    monkeypatch.setenv("RARESPECIES_WEIGHTS_URL", "http://127.0.0.1:1/")
    assert model_lib.resolve_weights("imagenet", WIDTH, SIZE) == str(cached)


def test_a_failed_download_names_the_path_to_copy_the_file_to(keras_home, weights_server,
                                                               monkeypatch):
    monkeypatch.setenv("RARESPECIES_WEIGHTS_URL", weights_server + "missing/")
    with pytest.raises(model_lib.WeightsNotFound, match="could not download") as info:
        model_lib.resolve_weights("imagenet", WIDTH, SIZE)
    assert str(keras_home / model_lib.imagenet_weights_name(WIDTH, SIZE)) in str(info.value)
    assert not any(keras_home.glob("*.h5"))  # no partial file left behind


def test_imagenet_weights_file_names(keras_home):
    f = model_lib.imagenet_weights_file
    assert os.path.basename(f(1.0, 224)) == \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    assert os.path.basename(f(0.35, 96)) == \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert os.path.basename(f(1, 100)).endswith("_1.0_224_no_top.h5")  # Keras falls back to 224
    assert os.path.dirname(f(1.0, 224)) == str(keras_home)


def test_imagenet_uses_the_cached_file(keras_home, saved):
    keras_home.mkdir(parents=True)
    cached = model_lib.imagenet_weights_file(WIDTH, SIZE)
    shutil.copy(saved[0], cached)  # stands in for Keras' download
    expected = saved[1]
    tf.keras.utils.set_random_seed(6)
    assert model_lib.resolve_weights("imagenet", WIDTH, SIZE, offline=True) == cached
    model = build_model(CLASSES, SIZE, WIDTH, weights="imagenet")
    assert_same_weights(backbone_of(model).get_weights(), expected)


def test_a_corrupt_cached_file_is_a_user_error(keras_home):
    keras_home.mkdir(parents=True)
    with open(model_lib.imagenet_weights_file(WIDTH, SIZE), "wb") as handle:
        handle.write(b"not an HDF5 file")
    with pytest.raises(model_lib.WeightsNotFound, match="Delete the file to download it again"):
        build_model(CLASSES, SIZE, WIDTH, weights="imagenet")


@pytest.mark.parametrize("value", [None, "", "none"])
def test_resolve_weights_none(value):
    assert model_lib.resolve_weights(value, WIDTH, SIZE) is None
