"""What the benchmark scripts share: timing a command, reading component times from ML
Metadata, making the demo data at a multiple of its size, writing results."""
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # run as `python benchmarks/<script>.py` from anywhere

# The console script of the venv that runs this file.
RARESPECIES = os.path.join(os.path.dirname(sys.executable), "rarespecies")


def run_timed(command: List[str], log_path: str) -> float:
    """Runs `command`, its output to log_path; returns wall seconds. A failure raises with
    the log's tail, so a broken run never reads as a fast one."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return seconds


def last_json_line(log_path: str) -> dict:
    """The last line of a log that is a JSON object (how the helper scripts report)."""
    with open(log_path) as log:
        lines = [line for line in log if line.startswith("{")]
    return json.loads(lines[-1])


def component_seconds(metadata_path: str) -> Dict[str, float]:
    """Wall seconds per component type (summed over executions, e.g. a sweep's Trainers),
    from each execution's creation to its last update in ML Metadata."""
    from pipeline.reports.mlmd import open_store
    store = open_store(metadata_path)
    types = {t.id: t.name.rsplit(".", 1)[-1] for t in store.get_execution_types()}
    totals: Dict[str, float] = {}
    for execution in store.get_executions():
        name = types[execution.type_id]
        seconds = (execution.last_update_time_since_epoch
                   - execution.create_time_since_epoch) / 1000
        totals[name] = totals.get(name, 0.0) + seconds
    return totals


def demo_data(root: str, scale: int) -> dict:
    """The demo dataset with every species' counts times `scale` (`rarespecies demo-data
    --scale`; scale 1 is the demo data itself), written once under root."""
    from pipeline.data import demo_data as generator
    from pipeline.data.paper import TABLE_I_TRAIN_COUNTS
    if not os.path.isdir(os.path.join(root, "train")):
        generator.generate(root, seed=0, scale=scale)
    return {"train": sum(TABLE_I_TRAIN_COUNTS.values()) * scale,
            "test": sum(generator.DEFAULT_TEST_COUNTS.values()) * scale,
            "valid": generator.DEFAULT_VALID_PER_SPECIES * len(TABLE_I_TRAIN_COUNTS) * scale}


def figure_e(components: Dict[str, float], images: int, data_root: str, image_size: int,
             log_path: str) -> dict:
    """Figure e: images/s through ImageExampleGen + Transform (their ML Metadata seconds)
    against plain_decode.py's tf.io loop, run now over the same folder at the same size."""
    run_timed([sys.executable, os.path.join(REPO_ROOT, "benchmarks", "plain_decode.py"),
               "--data-root", data_root, "--image-size", str(image_size)], log_path)
    plain = last_json_line(log_path)["images_per_s"]
    pipeline = images / (components["ImageExampleGen"] + components["Transform"])
    return {"ingest_transform_images_per_s": round(pipeline, 1),
            "plain_decode_images_per_s": plain,
            "ingest_vs_plain_decode": round(pipeline / plain, 3)}


def write_results(path: str, results: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))
