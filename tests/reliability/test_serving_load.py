"""The REST server under load with malformed requests mixed in (a real `rarespecies serve` on
127.0.0.1 and a stand-in model): no 5xx for bad input, no crash, answers still right after; and
its bounds: body size (413) and work in flight (503 beyond --max-inflight, as TF Serving answers
UNAVAILABLE when its queue is full).

The test sends LOAD_REQUESTS (2,000) requests, 16 at a time; `python benchmarks/serving_load.py`
does the same against any model base path (e.g. the demo's pushed model) and prints the figures."""
import asyncio
import base64
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import requests

from tests.support import serving_load
from tests.support.serving_process import REPO, free_port, stop, wait_ready
from tests.support.stand_in_model import build_stand_in

LOAD_REQUESTS = int(os.environ.get("RARESPECIES_LOAD_REQUESTS", "2000"))
CONCURRENCY = 16
BODY_LIMIT = 4 * 2**20
SPECIES = ["Snowy Owl", "Puffin", "Razorbill", "Araripe Manakin"]
PEAK_MEMORY_BOUND = 3 * 2**30  # TensorFlow alone takes most of a GiB


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("load")
    base = root / "models"
    base.mkdir()
    port = free_port()
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--model-base-path", str(base),
             "--port", str(port), "--poll-seconds", "0.3", "--max-body-bytes", str(BODY_LIMIT)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)  # default host: 127.0.0.1
    try:
        build_stand_in(base / "1", SPECIES, seed=1)  # while the server imports TensorFlow
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log_path, timeout=240)
        yield SimpleNamespace(url=url, proc=proc, log=log_path, base=base)
    finally:
        stop(proc)


def predict(url, images):
    body = {"instances": [{"b64": base64.b64encode(d).decode()} for d in images]}
    return requests.post(f"{url}/v1/models/rarespecies:predict", json=body, timeout=60)


def test_load_with_malformed_requests_mixed_in(server):
    images = serving_load.good_images()
    before = [p["scores"] for p in predict(server.url, images).json()["predictions"]]
    results = serving_load.run_load(server.url, requests_total=LOAD_REQUESTS,
                                    concurrency=CONCURRENCY, bad_every=5, body_limit=BODY_LIMIT,
                                    images=images)
    print(f"\nload test: {json.dumps(results, indent=1)}")
    assert results["connection_errors"] == 0
    assert results["server_errors_5xx"] == 0
    assert results["unexpected"] == [] and results["unexpected_count"] == 0
    assert results["statuses"]["200"] == results["good"]
    # Every malformed kind was sent, and each got its 4xx.
    expected = {name: str(case[3]) for name, case in serving_load.malformed_requests(
        "rarespecies", BODY_LIMIT).items()}
    assert set(results["malformed_cases"]) == set(expected)
    for name, statuses in results["malformed_cases"].items():
        assert set(statuses) == {expected[name]}, (name, statuses)
    assert server.proc.poll() is None, "the server died"
    # Still serving, and the same answers as before the load.
    after = [p["scores"] for p in predict(server.url, images).json()["predictions"]]
    np.testing.assert_allclose(after, before, atol=1e-6)
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    # The abuse cases did not blow the server up: 5,000 tiny images are refused from their
    # count, before any is decoded.
    peak = serving_load.peak_memory_bytes(server.proc.pid)
    print(f"server peak resident memory: {peak / 2**20:.0f} MiB")
    assert peak < PEAK_MEMORY_BOUND, peak


def test_huge_dimension_image_is_refused_before_decoding(server):
    r = predict(server.url, [serving_load.huge_dimensions_jpeg()])
    assert r.status_code == 413
    assert "12000x12000 pixels, over the limit of 25000000 pixels" in r.json()["error"]


def test_work_in_flight_is_bounded_with_503():
    """In process: max_inflight=2 and a batch that waits 300 ms, so 12 concurrent requests
    overlap: 2 are served, the others get 503 at once; afterwards everything is served."""
    import httpx
    from serving.server import ServerConfig, create_app

    async def scenario(base):
        app = create_app(ServerConfig(str(base), max_inflight=2, batch_timeout_ms=300,
                                      max_batch_size=64))
        image = serving_load.good_images(1)[0]
        body = {"instances": [{"b64": base64.b64encode(image).decode()}]}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                url = "/v1/models/rarespecies:predict"
                burst = await asyncio.gather(*[c.post(url, json=body, timeout=60)
                                               for _ in range(12)])
                after = await c.post(url, json=body, timeout=60)
        return burst, after

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        build_stand_in(os.path.join(tmp, "1"), SPECIES, seed=1)
        burst, after = asyncio.run(scenario(tmp))
    codes = sorted(r.status_code for r in burst)
    assert codes.count(200) == 2 and codes.count(503) == 10, codes
    overloaded = next(r for r in burst if r.status_code == 503)
    assert "server overloaded" in overloaded.json()["error"]
    assert after.status_code == 200


def test_server_is_not_reachable_from_other_addresses(server):
    """Started without --host: it listens on 127.0.0.1 only, so this machine's other addresses
    refuse the connection."""
    import socket
    port = int(server.url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing address
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if not address or address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=5).close()
    assert requests.get(f"{server.url}/v1/models/rarespecies", timeout=10).ok
