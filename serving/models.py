"""Loading SavedModel versions from a TF Serving model base path (`<base>/<int>/saved_model.pb`)."""
import logging
import os
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from schema import images
from schema.features import MAX_IMAGE_PIXELS
from serving.rest import InputSpec, RequestError

log = logging.getLogger(__name__)

IMAGE_INPUT = "image_bytes"  # the contract's encoded-image input; checked before batching


def list_versions(base_path) -> list:
    """Integer-named version folders that hold a saved_model.pb, ascending. Anything else
    (a temporary `.tmp-3` folder a pusher is still writing, stray files) is ignored."""
    try:
        entries = list(os.scandir(base_path))
    except OSError:
        return []
    return sorted(int(e.name) for e in entries
                  if e.name.isdigit() and e.is_dir() and os.path.isfile(
                      os.path.join(e.path, "saved_model.pb")))


def _fingerprint(path) -> tuple:
    """Changes whenever a file under `path` is added, grown or rewritten."""
    stats = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue
            stats.append((os.path.relpath(os.path.join(root, name), path), st.st_size,
                          st.st_mtime_ns))
    return tuple(sorted(stats))


class LoadedModel:
    """One loaded version: its callable signatures and their SignatureDefs."""

    def __init__(self, path, version: int):
        self.path, self.version = str(path), version
        self._loaded = tf.saved_model.load(self.path)
        self._signatures = dict(self._loaded.signatures)
        self._signature_defs = self._read_signature_defs()
        self.input_specs = {name: self._input_specs(self._signature_defs[name])
                            for name in self._signatures}

    def _read_signature_defs(self) -> dict:
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(self.path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        graphs = [g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags]
        return dict((graphs or proto.meta_graphs)[0].signature_def)

    @staticmethod
    def _input_specs(signature_def) -> dict:
        specs = {}
        for name, info in signature_def.inputs.items():
            dtype = tf.dtypes.as_dtype(info.dtype)
            shape = None if info.tensor_shape.unknown_rank else tuple(
                d.size for d in info.tensor_shape.dim)
            specs[name] = InputSpec(name, None if dtype == tf.string else
                                    np.dtype(dtype.as_numpy_dtype), shape)
        return specs

    def signature_metadata(self) -> dict:
        """`metadata.signature_def` as TF Serving's GetModelMetadata renders it."""
        defs = {name: json_format.MessageToDict(sig, preserving_proto_field_name=True,
                                                including_default_value_fields=True)
                for name, sig in self._signature_defs.items()}
        return {"@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                "signature_def": defs}

    def run(self, signature_name: str, inputs: dict) -> dict:
        """Calls one signature on batched numpy inputs; returns numpy outputs. Thread-safe."""
        specs = self.input_specs[signature_name]
        tensors = {name: tf.constant(value, dtype=tf.string if specs[name].dtype is None
                                     else specs[name].dtype)
                   for name, value in inputs.items()}
        outputs = self._signatures[signature_name](**tensors)
        return {name: tensor.numpy() for name, tensor in outputs.items()}


def _header_size(data: bytes, i: int):
    """(width, height) from the image header; None if PIL does not know the format
    (TensorFlow's decoder then decides)."""
    try:
        return images.header_size(data)
    except images.ImageTooLarge as err:
        raise RequestError(f"instance {i}: '{IMAGE_INPUT}' is {err}") from None


def check_image_sizes(values: np.ndarray, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Rejects images over `max_pixels`, read from their headers (nothing is decoded)."""
    for i, data in enumerate(values.ravel()):
        size = _header_size(data, i)
        if size and size[0] * size[1] > max_pixels:
            raise RequestError(f"instance {i}: '{IMAGE_INPUT}' is {size[0]}x{size[1]} pixels, "
                               f"over the limit of {max_pixels} pixels; send a smaller image")


def check_images(values: np.ndarray, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """check_image_sizes, then rejects bytes that the model's own decoder
    (tf.io.decode_image) cannot decode, naming the instance."""
    check_image_sizes(values, max_pixels)
    for i, data in enumerate(values.ravel()):
        try:
            tf.io.decode_image(data, channels=3, expand_animations=False)
        except (tf.errors.OpError, ValueError) as err:
            reason = getattr(err, "message", str(err)).splitlines()[0]
            raise RequestError(f"instance {i}: '{IMAGE_INPUT}' is not a decodable image "
                               f"({reason})") from None


class ModelRegistry:
    """Serves the newest loadable version under `base_path` (TF Serving's default `latest`
    version policy with one version kept). `refresh()` runs in a worker thread; readers see
    either the old or the new version map, never a half-built one."""

    def __init__(self, base_path):
        self.base_path = Path(base_path)
        self._models: dict = {}    # version -> LoadedModel; replaced as a whole, never mutated
        self._failed: dict = {}    # version -> fingerprint when loading failed
        self._lock = threading.Lock()  # one refresh at a time

    def get(self, version: Optional[int] = None) -> Optional[LoadedModel]:
        models = self._models
        if version is None:
            return models[max(models)] if models else None
        return models.get(version)

    @property
    def loaded_versions(self) -> list:
        return sorted(self._models)

    def refresh(self) -> bool:
        """Loads the newest version that is not loaded yet and swaps it in. Returns True on a
        swap. A version that fails to load (e.g. still being copied) is retried once its
        files change. If every version folder disappears, the loaded model keeps serving."""
        with self._lock:
            current = max(self._models) if self._models else None
            for version in reversed(list_versions(self.base_path)):
                if version == current:
                    return False
                path = self.base_path / str(version)
                fingerprint = _fingerprint(path)
                if self._failed.get(version) == fingerprint:
                    continue
                try:
                    model = LoadedModel(path, version)
                except Exception as err:  # noqa: BLE001 - any load failure: keep serving
                    self._failed[version] = fingerprint
                    log.warning("could not load %s (%s); will retry when its files change",
                                path, str(err).splitlines()[0] if str(err) else type(err).__name__)
                    continue
                self._models = {version: model}
                self._failed.pop(version, None)
                log.info("now serving version %d from %s", version, path)
                return True
            return False
