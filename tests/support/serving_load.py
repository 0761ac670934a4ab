"""A load generator for the TF Serving REST API: good image requests with malformed ones mixed in
(bad JSON, bad base64, non-images, a decompression bomb, oversize bodies, wrong paths, ...), sent
from a thread pool to a server on this machine. Used by the reliability load test and by
benchmarks/serving_load.py."""
import base64
import collections
import gzip
import concurrent.futures
import io
import json
import threading
import time
from urllib.parse import urlparse

import numpy as np
import requests
from PIL import Image

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def encode(pixels: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def good_images(n: int = 8, seed: int = 0) -> list:
    rng = np.random.RandomState(seed)
    return [encode(rng.randint(0, 256, (rng.randint(16, 96), rng.randint(16, 96), 3))
                   .astype(np.uint8), "PNG" if i % 3 == 0 else "JPEG") for i in range(n)]


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def huge_dimensions_jpeg(side: int = 12000) -> bytes:
    """A 12000x12000 grayscale JPEG of ~2 MB: 0.4 GB once decoded (made with 144 MB here)."""
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((side, side), Image.NEAREST).save(buffer, "JPEG",
                                                                        quality=50)
    return buffer.getvalue()


def tiny_png() -> bytes:
    return encode(np.zeros((2, 2, 3), np.uint8), "PNG")


def gzip_bomb(unpacked_bytes: int) -> bytes:
    """A gzip body of a few KB that unpacks to `unpacked_bytes` of spaces."""
    return gzip.compress(b" " * unpacked_bytes, compresslevel=9)


def peak_memory_bytes(pid: int) -> int:
    """The process's peak resident memory (Linux VmHWM), 0 where /proc is not there."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def malformed_requests(model: str, body_limit: int, max_instances: int = 256) -> dict:
    """name -> (method, path under /v1/models/, body bytes or None, expected status[, extra
    headers]). Besides malformed input, the abuse a public endpoint sees: more instances than
    the server takes, thousands of tiny images, a gzip bomb, JSON nested 50,000 deep."""
    predict = f"{model}:predict"
    good = json.dumps({"instances": [b64(good_images(1)[0])]}).encode()
    text = b"this is not an image"
    jpeg = good_images(1, seed=1)[0]
    js = lambda value: json.dumps(value).encode()  # noqa: E731
    return {
        "invalid-json": ("POST", predict, b'{"instances": [', 400),
        "not-an-object": ("POST", predict, b"[1, 2, 3]", 400),
        "not-utf8": ("POST", predict, b"\xff\xfe\x00{", 400),
        "deeply-nested": ("POST", predict, b"[" * 50_000 + b"]" * 50_000, 400),
        "no-instances": ("POST", predict, js({"signature_name": "serving_default"}), 400),
        "empty-instances": ("POST", predict, js({"instances": []}), 400),
        "bad-base64": ("POST", predict, js({"instances": [{"b64": "@@not base64@@"}]}), 400),
        "not-an-image": ("POST", predict, js({"instances": [b64(text)]}), 400),
        "truncated-jpeg": ("POST", predict, js({"instances": [b64(jpeg[:len(jpeg) // 2])]}), 400),
        "numbers-not-bytes": ("POST", predict, js({"instances": [1.5, 2]}), 400),
        "unknown-input": ("POST", predict, js({"instances": [{"pixels": b64(jpeg)}]}), 400),
        "unknown-signature": ("POST", predict,
                              js({"signature_name": "nope", "instances": [b64(jpeg)]}), 400),
        "huge-dimensions": ("POST", predict, js({"instances": [b64(huge_dimensions_jpeg())]}),
                            413),
        "too-many-instances": ("POST", predict,
                               js({"instances": [b64(tiny_png())] * (max_instances + 1)}), 413),
        "tiny-image-flood": ("POST", predict, js({"instances": [b64(tiny_png())] * 5000}), 413),
        "gzip-bomb": ("POST", predict, gzip_bomb(body_limit * 4), 413,
                      {"Content-Encoding": "gzip"}),
        "bad-gzip": ("POST", predict, b"not gzip at all", 400, {"Content-Encoding": "gzip"}),
        "regress": ("POST", f"{model}:regress", good, 400),
        "classify-without-examples": ("POST", f"{model}:classify", js({"examples": []}), 400),
        "one-bad-of-many": ("POST", predict,
                            js({"instances": [b64(jpeg)] * 7 + [b64(text)]}), 400),
        "over-body-limit": ("POST", predict, b" " * (body_limit + 1), 413),
        "get-predict": ("GET", predict, None, 405),
        "unknown-model": ("POST", "nomodel:predict", good, 404),
        "unknown-version": ("POST", f"{model}/versions/999:predict", good, 404),
        "unknown-verb": ("POST", f"{model}:explode", good, 404),
    }


def percentiles(values: list) -> dict:
    if not values:
        return {}
    ms = np.asarray(values) * 1000
    return {f"p{p}": round(float(np.percentile(ms, p)), 1) for p in (50, 90, 99)} | {
        "max": round(float(ms.max()), 1), "mean": round(float(ms.mean()), 1)}


def run_load(url: str, model: str = "rarespecies", requests_total: int = 2000,
             concurrency: int = 16, bad_every: int = 5, body_limit: int = 16 * 2**20,
             images: list = None, timeout: float = 60.0) -> dict:
    """Sends the requests; returns status counts, per-case outcomes and latencies."""
    host = urlparse(url).hostname
    if host not in LOCAL_HOSTS:
        raise ValueError(f"load tests go to this machine only (127.0.0.1), not {host!r}")
    images = images or good_images()
    bad = malformed_requests(model, body_limit)
    bad_names = list(bad)
    plan = []
    for i in range(requests_total):
        if bad_every and i % bad_every == bad_every - 1:
            plan.append(("bad", bad_names[(i // bad_every) % len(bad_names)]))
        else:
            plan.append(("good", i))
    local = threading.local()

    def send(item):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        kind, key = item
        if kind == "good":
            rows = 1 + key % 2
            method, path, expected = "POST", f"{model}:predict", 200
            body = json.dumps({"instances": [b64(images[(key + r) % len(images)])
                                             for r in range(rows)]}).encode()
        else:
            method, path, body, expected, *extra = bad[key]
        started = time.perf_counter()
        try:
            r = session.request(method, f"{url}/v1/models/{path}", data=body, timeout=timeout,
                                headers={"Content-Type": "application/json",
                                         **(extra[0] if kind == "bad" and extra else {})})
            status, text = r.status_code, r.text
        except requests.RequestException as err:
            status, text = None, f"{type(err).__name__}: {err}"
        return kind, key, expected, status, text, time.perf_counter() - started

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(send, plan))
    wall = time.perf_counter() - started

    statuses = collections.Counter(str(r[3]) for r in results)
    unexpected = [(k, key, exp, st, text[:200]) for k, key, exp, st, text, _ in results
                  if st != exp and not (k == "good" and st == 503)]
    cases = collections.defaultdict(collections.Counter)
    for kind, key, _, status, _, _ in results:
        if kind == "bad":
            cases[key][str(status)] += 1
    return {
        "requests": requests_total, "concurrency": concurrency,
        "good": sum(r[0] == "good" for r in results), "malformed": sum(r[0] == "bad" for r in results),
        "statuses": dict(sorted(statuses.items())),
        "server_errors_5xx": sum(1 for r in results if r[3] and r[3] >= 500),
        "connection_errors": statuses.get("None", 0),
        "unexpected": unexpected[:20], "unexpected_count": len(unexpected),
        "malformed_cases": {k: dict(v) for k, v in sorted(cases.items())},
        "wall_s": round(wall, 2), "requests_per_s": round(requests_total / wall, 1),
        "latency_ms_good": percentiles([r[5] for r in results if r[0] == "good" and r[3] == 200]),
        "latency_ms_all": percentiles([r[5] for r in results]),
    }
