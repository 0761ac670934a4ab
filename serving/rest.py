"""TF Serving REST request parsing and response formatting (no TensorFlow import).

Follows https://www.tensorflow.org/tfx/serving/api_rest: row format (`instances`) and
columnar format (`inputs`); binary strings travel as `{"b64": "..."}`. Parsing only ever uses
`json` and `base64`: request data is never unpickled or evaluated.
"""
import base64
import binascii
import dataclasses
import json
from typing import Any, Optional

import numpy as np

DEFAULT_SIGNATURE = "serving_default"


class RequestError(Exception):
    """A client error; rendered as TF Serving's `{"error": message}` with `status`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One signature input: `dtype` is a numpy dtype, or None for tf.string.
    `shape` is the full tensor shape (batch dimension first); None when the rank is unknown."""
    name: str
    dtype: Optional[np.dtype]
    shape: Optional[tuple]

    @property
    def instance_rank(self) -> Optional[int]:
        return None if self.shape is None else max(len(self.shape) - 1, 0)


@dataclasses.dataclass
class PredictRequest:
    signature_name: str
    inputs: dict            # input name -> np.ndarray with the batch dimension first
    rows: int
    row_format: bool        # answer with "predictions" (rows) or "outputs" (columns)
    image_input: Optional[str] = None  # the input of encoded images, if any (set by the server)


def parse_json_body(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise RequestError(f"JSON Parse error: {err}") from None
    if not isinstance(data, dict):
        raise RequestError("JSON Value: request body must be a JSON object")
    return data


def signature_name_of(data: dict) -> str:
    """The request's signature; absent or "" is serving_default, as in TF Serving."""
    name = data.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise RequestError("'signature_name' key must be a string value.")
    return name or DEFAULT_SIGNATURE


_WHITESPACE = b" \t\r\n\x0b\x0c"


def b64decode(text: str, where: str) -> bytes:
    """Standard base64 as TF Serving reads it (absl's Base64Unescape): whitespace anywhere is
    skipped and the '=' padding may be left out; the URL-safe alphabet is not base64 here."""
    data = text.encode("ascii", errors="replace").translate(None, _WHITESPACE)
    if b"-" in data or b"_" in data:
        raise RequestError(f"{where}: Unable to base64 decode (the URL-safe alphabet: use '+' "
                           f"and '/')")
    data = data.rstrip(b"=")
    if len(data) % 4 == 1:
        raise RequestError(f"{where}: Unable to base64 decode (truncated)")
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(f"{where}: Unable to base64 decode ({err})") from None


def parse_predict(data: dict, specs: dict) -> PredictRequest:
    """Turns a parsed predict body into batched numpy inputs for the signature `specs`
    (input name -> InputSpec)."""
    signature_name = signature_name_of(data)
    has_instances, has_inputs = "instances" in data, "inputs" in data
    if has_instances == has_inputs:
        raise RequestError("Missing 'instances' or 'inputs' key" if not has_instances else
                           "Only one of 'instances' or 'inputs' may be given")
    if has_instances:
        columns = _columns_from_instances(data["instances"], specs)
    else:
        columns = _columns_from_inputs(data["inputs"], specs)
    inputs = {name: _to_array(values, specs[name]) for name, values in columns.items()}
    rows = {len(v) for v in columns.values()}
    if len(rows) != 1:
        raise RequestError("all inputs must have the same batch size")
    return PredictRequest(signature_name, inputs, rows.pop(), has_instances)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _columns_from_instances(instances: Any, specs: dict) -> dict:
    if not isinstance(instances, list):
        raise RequestError("'instances' must be a list")
    if not instances:
        raise RequestError("'instances' is empty")
    named = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not named:
        # Bare values feed the signature's only input.
        name = _only_input(specs)
        if any(isinstance(v, dict) and not _is_b64(v) for v in instances):
            raise RequestError("instances mix named inputs and bare values")
        return {name: instances}
    columns = {name: [] for name in specs}
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict) or _is_b64(instance):
            raise RequestError("instances mix named inputs and bare values")
        _check_names(instance, specs, where=f"instance {i}")
        for name in specs:
            columns[name].append(instance[name])
    return columns


def _columns_from_inputs(inputs: Any, specs: dict) -> dict:
    if isinstance(inputs, dict) and not _is_b64(inputs):
        _check_names(inputs, specs, where="'inputs'")
        columns = dict(inputs)
    else:
        columns = {_only_input(specs): inputs}
    for name, values in columns.items():
        # The batch dimension is what the batcher splits on, so columnar inputs need one.
        if not isinstance(values, list):
            raise RequestError(f"input '{name}' must be a list (batch dimension first)")
        if not values:
            raise RequestError(f"input '{name}' is empty")
    return columns


def _only_input(specs: dict) -> str:
    if len(specs) != 1:
        raise RequestError(f"this signature takes {len(specs)} inputs "
                           f"({', '.join(sorted(specs))}): name them in each instance")
    return next(iter(specs))


def _check_names(given: dict, specs: dict, where: str) -> None:
    missing = sorted(set(specs) - set(given))
    extra = sorted(set(given) - set(specs))
    if missing:
        raise RequestError(f"{where}: missing input(s) {', '.join(missing)}")
    if extra:
        raise RequestError(f"{where}: unknown input(s) {', '.join(extra)}; "
                           f"expected {', '.join(sorted(specs))}")


def _decode_strings(value: Any, name: str) -> Any:
    """Nested lists of {"b64": ...} / str -> the same nesting of bytes."""
    if isinstance(value, list):
        return [_decode_strings(v, name) for v in value]
    if _is_b64(value):
        if not isinstance(value["b64"], str):
            raise RequestError(f"input '{name}': 'b64' must be a string")
        return b64decode(value["b64"], f"input '{name}'")
    if isinstance(value, str):
        return value.encode("utf-8")
    raise RequestError(f"input '{name}' is a string tensor: give strings or {{\"b64\": ...}} "
                       f"objects, not {type(value).__name__}")


def _nested_shape(value: Any, name: str) -> tuple:
    """Shape of nested lists, rejecting ragged ones (numpy would silently make objects)."""
    if not isinstance(value, list):
        return ()
    shapes = {_nested_shape(v, name) for v in value}
    if len(shapes) > 1:
        raise RequestError(f"input '{name}' is ragged: all elements need the same shape")
    return (len(value),) + (shapes.pop() if shapes else ())


def _to_array(values: list, spec: InputSpec) -> np.ndarray:
    shape = _nested_shape(values, spec.name)
    rank = spec.instance_rank
    if rank is not None and len(shape) - 1 != rank:
        raise RequestError(f"input '{spec.name}' needs rank {rank} per instance, got rank "
                           f"{len(shape) - 1}")
    if spec.dtype is None:  # tf.string
        return np.array(_decode_strings(values, spec.name), dtype=object)
    if not all(isinstance(v, (int, float)) for v in np.ravel(np.array(values, dtype=object))):
        raise RequestError(f"input '{spec.name}' needs numbers ({spec.dtype})")
    try:
        return np.asarray(values, dtype=spec.dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise RequestError(f"input '{spec.name}' needs {spec.dtype} values ({err})") from None


def _jsonable(value: Any, as_b64: bool) -> Any:
    if isinstance(value, list):
        return [_jsonable(v, as_b64) for v in value]
    if isinstance(value, bytes):
        if as_b64:
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", errors="replace")
    return value


def format_predict(outputs: dict, row_format: bool) -> dict:
    """TF Serving's response shapes. As TF Serving does, a signature with a single output
    drops the output name, and string outputs named `*_bytes` come back base64-encoded."""
    lists = {name: _jsonable(np.asarray(a).tolist(), name.endswith("_bytes"))
             for name, a in outputs.items()}
    single = next(iter(lists.values())) if len(lists) == 1 else None
    if not row_format:
        return {"outputs": single if single is not None else lists}
    if single is not None:
        return {"predictions": single}
    rows = len(next(iter(lists.values())))
    return {"predictions": [{name: values[i] for name, values in lists.items()}
                            for i in range(rows)]}
