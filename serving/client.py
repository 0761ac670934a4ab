"""A TF Serving REST client for the species classifier.

Works against `rarespecies serve` and the real TF Serving alike: it sends the row format
`{"instances": [{"b64": ...}]}` and reads `{"predictions": [{"scores", "classes", "label"}]}`.
"""
import base64
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

import requests

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp"}  # what tf.io.decode_image reads


class PredictError(Exception):
    """Why a prediction failed, in one line. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


def expand_image_paths(paths: Iterable[Union[str, os.PathLike]]) -> list:
    """Files as given; folders become every image file under them (recursive, sorted,
    hidden files and folders skipped)."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise PredictError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                                   f"in folder {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise PredictError(f"cannot read image {path}: no such file or folder")
    return files


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise PredictError(f"cannot read image {path}: {err.strerror or err}") from None


def predict_url(url: str, model: str, version: Optional[int] = None) -> str:
    base = f"{url.rstrip('/')}/v1/models/{model}"
    return (f"{base}/versions/{int(version)}" if version is not None else base) + ":predict"


def _post(session: requests.Session, endpoint: str, payload: dict, timeout: float) -> dict:
    try:
        response = session.post(endpoint, json=payload, timeout=timeout)
    except requests.Timeout:
        raise PredictError(f"no answer from {endpoint} within {timeout} s") from None
    except requests.RequestException as err:
        # urllib3's messages are long; the OS reason ("Connection refused") is what helps.
        reason = re.search(r"\[Errno -?\d+\] [^'\")]+", str(err))
        raise PredictError(f"cannot reach server at {endpoint}: "
                           f"{reason.group(0) if reason else type(err).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        message = body.get("error") if isinstance(body, dict) else None
        message = message or response.text.strip()[:300] or response.reason
        raise PredictError(f"HTTP {response.status_code} from {endpoint}: {message}",
                           response.status_code)
    if not isinstance(body, dict):
        raise PredictError(f"{endpoint} did not answer with a JSON object")
    return body


UNKNOWN = "unknown"


def _top_k(prediction, top_k: int, endpoint: str) -> list:
    try:
        pairs = list(zip(prediction["classes"], prediction["scores"], strict=True))
    except (TypeError, KeyError, ValueError):
        raise PredictError(f"{endpoint}: each prediction needs aligned 'classes' and "
                           f"'scores' lists") from None
    # The model sorts best first already; a stable sort keeps that order and guards the rest.
    pairs.sort(key=lambda pair: -float(pair[1]))
    return [{"species": species, "score": float(score)} for species, score in pairs[:top_k]]


def label_of(prediction: dict, top: list, min_confidence: Optional[float]) -> str:
    """The answer: the top species, or "unknown" when its score is below `min_confidence`
    (given) or the model's own threshold (its `label` output, when it has one)."""
    if min_confidence is not None:
        return top[0]["species"] if top and top[0]["score"] >= min_confidence else UNKNOWN
    label = prediction.get("label")
    return label if isinstance(label, str) else (top[0]["species"] if top else UNKNOWN)


def classify_encoded(session: requests.Session, endpoint: str, encoded: list, top_k: int,
                     timeout: float, min_confidence: Optional[float] = None) -> list:
    """One predict request for encoded images: [{"label", "predictions"}] in input order."""
    payload = {"instances": [{"b64": base64.b64encode(data).decode("ascii")}
                             for data in encoded]}
    predictions = _post(session, endpoint, payload, timeout).get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(encoded):
        raise PredictError(f"{endpoint}: expected {len(encoded)} predictions")
    results = []
    for prediction in predictions:
        top = _top_k(prediction, top_k, endpoint)
        results.append({"label": label_of(prediction, top, min_confidence),
                        "predictions": top})
    return results


def predict_iter(url: str, model: str, files: list, top_k: int = 3,
                 version: Optional[int] = None, timeout: float = 60.0, batch_size: int = 16,
                 min_confidence: Optional[float] = None) -> Iterator[dict]:
    """Classifies image files, `batch_size` to a request, yielding one result per file as it
    comes: {"path", "label", "predictions": [{"species", "score"}, ...]} (top_k, best first),
    or {"path", "error"} for a file the server refused (the rest of its batch is retried
    file by file). An unreachable server raises PredictError."""
    if top_k < 1 or batch_size < 1:
        raise ValueError("top_k and batch_size must be >= 1")
    endpoint = predict_url(url, model, version)
    with requests.Session() as session:
        for start in range(0, len(files), batch_size):
            chunk = files[start:start + batch_size]
            try:
                results = classify_encoded(session, endpoint, [_read(p) for p in chunk],
                                           top_k, timeout, min_confidence)
            except PredictError as err:
                if err.status not in (400, 413):
                    raise
                results = []
                for path in chunk:
                    try:
                        results += classify_encoded(session, endpoint, [_read(path)], top_k,
                                                    timeout, min_confidence)
                    except PredictError as one:
                        if one.status not in (400, 413):
                            raise
                        results.append({"error": str(one)})
            for path, result in zip(chunk, results):
                yield {"path": str(path), **result}


def predict(url: str, model: str, image_paths, top_k: int = 3, version: Optional[int] = None,
            timeout: float = 60.0, batch_size: int = 16,
            min_confidence: Optional[float] = None) -> list:
    """Classifies images (files or folders) on a TF Serving REST endpoint.

    Returns one dict per image, in input order: `{"path": str, "label": str, "predictions":
    [{"species": str, "score": float}, ...]}` (top_k, best first; label is the species, or
    "unknown" below the confidence threshold). Images go `batch_size` to a request, which keeps
    bodies under server size limits. Raises PredictError for unreadable files, an unreachable
    server or an HTTP error.
    """
    if isinstance(image_paths, (str, os.PathLike)):
        image_paths = [image_paths]
    results = []
    for result in predict_iter(url, model, expand_image_paths(image_paths), top_k, version,
                               timeout, batch_size, min_confidence):
        if "error" in result:
            raise PredictError(result["error"], 400)
        results.append(result)
    return results
