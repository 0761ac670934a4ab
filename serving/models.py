"""Loading SavedModel versions from a TF Serving model base path (<base>/<version>/saved_model.pb)
with TF Serving's warm-up: the requests in assets.extra/tf_serving_warmup_requests are replayed
before a version takes traffic, and a version whose warm-up fails is not served."""
import logging
import os

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from serving.rest import InputSpec

log = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")  # TF Serving's name
MAX_WARMUP_RECORDS = 1000  # as TF Serving


def version_folders(base_path) -> dict:
    """{version: folder name} of the version folders that hold a saved_model.pb. Names are
    read as TF Serving reads them: `00000123` is version 123; of two names for one version
    the first in sorted order counts. Anything else (a `.tmp-3` folder a pusher is still
    writing, stray files) is ignored."""
    try:
        entries = sorted(os.scandir(base_path), key=lambda e: e.name)
    except OSError:
        return {}
    found = {}
    for entry in entries:
        if entry.name.isdigit() and entry.is_dir() and os.path.isfile(
                os.path.join(entry.path, "saved_model.pb")):
            version = int(entry.name)
            if version in found:
                log.warning("version %d is in folders %s and %s; serving %s", version,
                            found[version], entry.name, found[version])
                continue
            found[version] = entry.name
    return found


def list_versions(base_path) -> list:
    """The versions under base_path, ascending."""
    return sorted(version_folders(base_path))


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

    def warm_up(self) -> int:
        """Replays the version's warm-up records (predict and classify requests) through its
        signatures; raises on the first that fails, as TF Serving fails the load. Returns how
        many ran."""
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.exists(path):
            return 0
        from tensorflow_serving.apis import prediction_log_pb2
        count = 0
        for record in tf.data.TFRecordDataset(path):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise ValueError(f"{path}: more than {MAX_WARMUP_RECORDS} warm-up records")
            entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = entry.WhichOneof("log_type")
            if kind == "predict_log":
                request = entry.predict_log.request
                inputs = {name: tf.make_ndarray(t) for name, t in request.inputs.items()}
            elif kind == "classify_log":
                request = entry.classify_log.request
                inputs = {"inputs": np.array([e.SerializeToString() for e in
                                              request.input.example_list.examples], object)}
            else:
                raise ValueError(f"{path}: warm-up record {count} is a {kind}, which this "
                                 "server does not replay")
            self.run(request.model_spec.signature_name or "serving_default", inputs)
        return count
