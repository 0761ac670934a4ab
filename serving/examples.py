"""tf.Examples on the REST API: TF Serving's classify request (`{"examples": [{feature: value}],
"context": {...}}`) as serialized tf.Examples, and the images inside serialized tf.Examples (what
the pixel guard reads for serving_examples and classify)."""
from typing import Any, List

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2

from schema.features import IMAGE_KEY
from serving.rest import RequestError, b64decode


def _feature(name: str, value: Any) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    kinds = set()
    for v in values:
        if isinstance(v, dict) and set(v) == {"b64"}:
            kinds.add("bytes")
        elif isinstance(v, str):
            kinds.add("bytes")
        elif isinstance(v, bool) or isinstance(v, int):
            kinds.add("int64")
        elif isinstance(v, float):
            kinds.add("float")
        else:
            raise RequestError(f"Feature: {name} has element with unexpected JSON type: "
                               f"{type(v).__name__}")
    if len(kinds) > 1:
        raise RequestError(f"Unexpected element type in feature: {name} (mixed "
                           f"{', '.join(sorted(kinds))})")
    feature = feature_pb2.Feature()
    kind = kinds.pop() if kinds else None
    if kind == "bytes":
        feature.bytes_list.value.extend(
            b64decode(v["b64"], f"feature '{name}'") if isinstance(v, dict) else v.encode()
            for v in values)
    elif kind == "int64":
        feature.int64_list.value.extend(int(v) for v in values)
    elif kind == "float":
        feature.float_list.value.extend(values)
    return feature


def _example(features: Any, where: str) -> example_pb2.Example:
    if not isinstance(features, dict):
        raise RequestError(f"{where} must be an object of features")
    example = example_pb2.Example()
    for name, value in features.items():
        example.features.feature[name].CopyFrom(_feature(name, value))
    return example


def parse_classify(data: dict) -> np.ndarray:
    """Serialized tf.Examples of a classify request; each example merged over the context (its
    own features win, as in TF Serving)."""
    if "examples" not in data:
        raise RequestError("When method is classify, key 'examples' is expected and was not "
                           "found")
    examples = data["examples"]
    if not isinstance(examples, list):
        raise RequestError("Expecting 'examples' value to be an list/array")
    if not examples:
        raise RequestError("'examples' value is an empty array")
    context = _example(data["context"], "'context'") if "context" in data else None
    serialized = []
    for i, features in enumerate(examples):
        example = _example(features, f"example {i}")
        if context is not None:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            for name in example.features.feature:  # the example's own values, not appended
                merged.features.feature[name].CopyFrom(example.features.feature[name])
            example = merged
        serialized.append(example.SerializeToString())
    return np.array(serialized, dtype=object)


def images_in(serialized: np.ndarray) -> List[bytes]:
    """The `image` feature's bytes of each serialized tf.Example (a RequestError for bytes that
    are not a tf.Example)."""
    found = []
    for i, data in enumerate(serialized.ravel()):
        try:
            example = example_pb2.Example.FromString(data)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
            raise RequestError(f"instance {i} is not a serialized tf.Example") from None
        found.extend(example.features.feature[IMAGE_KEY].bytes_list.value)
    return found


def format_classify(classes: np.ndarray, scores: np.ndarray) -> dict:
    """TF Serving's classify response: {"results": [[[label, score], ...] per example]}."""
    return {"results": [[[c.decode() if isinstance(c, bytes) else str(c), float(s)]
                         for c, s in zip(row_classes, row_scores)]
                        for row_classes, row_scores in zip(classes, scores)]}

