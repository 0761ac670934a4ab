"""Figure d: REST latency and throughput of `rarespecies serve` against calling the same
SavedModel in-process, side by side in one run.

  in-process: the pushed version's serving_default called on batches of 1 and of 16 images;
  REST: 1 client sending one image a request, then 16 concurrent clients (the server batches
  their requests, up to 32 rows a model call).
Throughput ratios: REST with 1 client against in-process batch 1, REST with 16 clients
against in-process batch 16. Images are real JPEG files (the demo's 224 px test images).

    python benchmarks/serving_throughput.py --model-base-path out/serving_model/rarespecies \
        --images out/data/demo/test

Results: out/bench/serving_throughput.json.
"""
import argparse
import base64
import concurrent.futures
import json
import os
import tempfile
import threading
import time

import numpy as np
import requests

from common import REPO_ROOT, write_results
from tests.support import serving_process as process
from serving.models import list_versions


def image_files(root: str, n: int) -> list:
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names if name.lower().endswith((".jpg", ".jpeg", ".png")))
    if not paths:
        raise SystemExit(f"no images under {root}")
    # Every species, in turn: a spread of real files rather than the first folder's.
    step = max(1, len(paths) // n)
    chosen = paths[::step][:n]
    return [open(path, "rb").read() for path in chosen]


def in_process(model_dir: str, images: list, batch: int, calls: int) -> dict:
    """Images/s and CPU ms an image of serving_default on `batch` images a call (after 3
    warm-up calls)."""
    import tensorflow as tf
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    batches = [tf.constant([images[(i * batch + j) % len(images)] for j in range(batch)])
               for i in range(calls)]
    for inputs in batches[:3]:
        signature(image_bytes=inputs)
    started, cpu = time.perf_counter(), cpu_seconds()
    for inputs in batches:
        signature(image_bytes=inputs)["scores"].numpy()
    images_done = calls * batch
    return {"images_per_s": round(images_done / (time.perf_counter() - started), 1),
            "cpu_ms_per_image": round(1000 * (cpu_seconds() - cpu) / images_done, 2)}


def latency_summary(latencies: list, wall: float) -> dict:
    ms = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "images_per_s": round(len(latencies) / wall, 1)}


def cpu_seconds(pid: int = None) -> float:
    """User + system CPU seconds of a process (default: this one), from /proc."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rest_load(url: str, model: str, images: list, clients: int, requests_total: int,
              server_pid: int) -> dict:
    """One image a request, `clients` at a time; bodies are encoded before the clock starts.
    On a small machine the clients take CPU from the server: both CPU times are reported."""
    bodies = [json.dumps({"instances": [{"b64": base64.b64encode(
        images[i % len(images)]).decode("ascii")}]}).encode() for i in range(requests_total)]
    endpoint = f"{url}/v1/models/{model}:predict"
    local = threading.local()

    def send(body):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        started = time.perf_counter()
        r = session.post(endpoint, data=body, headers={"Content-Type": "application/json"})
        r.raise_for_status()  # a failed request must not count as a fast one
        return time.perf_counter() - started

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:  # warm up every connection
        list(pool.map(send, bodies[:clients * 2]))
        started = time.perf_counter()
        client_cpu, server_cpu = cpu_seconds(), cpu_seconds(server_pid)
        latencies = list(pool.map(send, bodies))
        wall = time.perf_counter() - started
        client_cpu, server_cpu = cpu_seconds() - client_cpu, cpu_seconds(server_pid) - server_cpu
    return dict(latency_summary(latencies, wall),
                client_cpu_ms_per_image=round(1000 * client_cpu / len(latencies), 2),
                server_cpu_ms_per_image=round(1000 * server_cpu / len(latencies), 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-base-path",
                        default=os.path.join(REPO_ROOT, "out", "serving_model", "rarespecies"))
    parser.add_argument("--model", default="rarespecies")
    parser.add_argument("--images", default=os.path.join(REPO_ROOT, "out", "data", "demo", "test"))
    parser.add_argument("--requests", type=int, default=800, help="per REST measurement")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="passed to `rarespecies serve`, e.g. --server-arg=--max-batch-size=16")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "bench"))
    args = parser.parse_args()

    versions = list_versions(args.model_base_path)
    if not versions:
        raise SystemExit(f"no model version under {args.model_base_path}: run the pipeline")
    model_dir = os.path.join(args.model_base_path, str(versions[-1]))
    images = image_files(args.images, 64)

    results = {"model": model_dir, "image_bytes_mean": int(np.mean([len(i) for i in images])),
               "in_process": {
                   "batch_1": in_process(model_dir, images, 1, args.requests // 4),
                   "batch_16": in_process(model_dir, images, 16, args.requests // 16)}}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "server.log")
        proc, url = process.start_serve(args.model_base_path, log_path, "--model-name",
                                        args.model, *args.server_arg)
        try:
            process.wait_ready(url, proc, log_path, timeout=300, model=args.model)
            results["rest"] = {f"clients_{n}": rest_load(url, args.model, images, n,
                                                         args.requests, proc.pid)
                               for n in (1, 16)}
        finally:
            process.stop(proc)
    in_proc, rest = results["in_process"], results["rest"]
    results["ratio_rest_vs_in_process"] = {
        f"{clients}_vs_{batch}": round(rest[clients]["images_per_s"]
                                       / in_proc[batch]["images_per_s"], 2)
        for clients, batch in (("clients_1", "batch_1"), ("clients_16", "batch_16"))}
    write_results(os.path.join(args.out, "serving_throughput.json"), results)


if __name__ == "__main__":
    main()
