"""How the pipeline grows with its data: the demo data at 1x, 4x and 16x (`rarespecies
demo-data --scale`), one `rarespecies demo` run each (1 epoch, 64 px), and one run at the
paper's 224 px (1x). Per run:
  - peak memory: the largest resident set of the run's process tree, sampled every 0.2 s, also
    per component (the one running when it was sampled);
  - bytes on disk per image of each artifact (ingested examples, statistics, Transform's output)
    and the model's size;
  - seconds per image of each component (ML Metadata's execution times): ingestion and
    statistics over every image, Transform over the train and valid images (the splits it
    transforms), the Trainer over the train images (one epoch, plus its validation choices and
    export), the Evaluator over the test images;
  - figure e: images per second through ingestion + Transform, every image counted, against
    plain_decode.py's tf.io loop over the same folder at the same size, which runs right after
    the pipeline.

    python benchmarks/growth.py [--scale 1 --scale 4 --scale 16] [--no-paper-size]

Results: out/bench/growth.json and out/bench/growth.md (the table benchmarks/README.md quotes).
"""
import argparse
import os
import re
import shutil
import subprocess
import threading
import time
from typing import Dict

import psutil

from common import RARESPECIES, REPO_ROOT, component_seconds, demo_data, figure_e, write_results

PIPELINE = "rarespecies"
ARTIFACTS = {  # table column -> (the artifact's folder under the pipeline root, its images)
    "examples": (("ImageExampleGen", "examples"), "all"),
    "statistics": (("StatisticsGen", "statistics"), "all"),
    "transformed": (("Transform", "transformed_examples"), "train_valid"),
}
PER_IMAGE = {  # component -> which images it handles (Transform: those the Trainer reads)
    "ImageExampleGen": "all", "StatisticsGen": "all", "Transform": "train_valid",
    "Trainer": "train", "Evaluator": "test",
}


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


STEP_LINE = re.compile(r"^\[\d+/\d+\] (\S+) \.\.\.")


def run_with_peak_memory(command, log_path: str):
    """(wall seconds, peak resident bytes of the process and its children, that peak per
    component: the component whose line the run's output showed last when it was sampled)."""
    with open(log_path, "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        peaks: Dict[str, int] = {}

        def sample():
            root = psutil.Process(process.pid)
            step = "start-up"
            with open(log_path) as output:
                while process.poll() is None:
                    for line in output.readlines():
                        match = STEP_LINE.match(line)
                        step = match.group(1) if match else step
                    try:
                        tree = [root] + root.children(recursive=True)
                        rss = sum(p.memory_info().rss for p in tree)
                        peaks[step] = max(peaks.get(step, 0), rss)
                    except psutil.Error:  # a child that ended while it was read
                        pass
                    time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        sampler.join()
        seconds = time.perf_counter() - started
    if code != 0:
        with open(log_path) as log:
            raise RuntimeError(f"{' '.join(command)} exited {code}:\n{log.read()[-3000:]}")
    return seconds, max(peaks.values(), default=0), peaks


def measure(scale: int, image_size: int, out_root: str) -> dict:
    counts = demo_data(os.path.join(out_root, f"data-x{scale}"), scale)
    counts["train_valid"] = counts["train"] + counts["valid"]
    counts["all"] = counts["train_valid"] + counts["test"]
    run_dir = os.path.join(out_root, f"growth-x{scale}-{image_size}px")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_root, "logs"), exist_ok=True)
    print(f"scale {scale}, {image_size} px: {counts['all']} images ...", flush=True)
    seconds, peak, peaks = run_with_peak_memory(
        [RARESPECIES, "demo", "--data-root", os.path.join(out_root, f"data-x{scale}"),
         "--output-dir", run_dir, "--epochs", "1", "--image-size", str(image_size)],
        os.path.join(out_root, "logs", f"growth-x{scale}-{image_size}px.log"))
    root = os.path.join(run_dir, "pipelines", PIPELINE)
    components = component_seconds(os.path.join(run_dir, "metadata", f"{PIPELINE}.sqlite"))
    return {
        "scale": scale, "image_size": image_size, "images": counts,
        "wall_s": round(seconds, 1), "peak_memory_mib": round(peak / 2 ** 20),
        "peak_memory_mib_by_step": {step: round(rss / 2 ** 20) for step, rss in peaks.items()},
        "bytes_per_image": {name: round(folder_bytes(os.path.join(root, *parts)) / counts[which])
                            for name, (parts, which) in ARTIFACTS.items()},
        "model_mib": round(folder_bytes(os.path.join(root, "Trainer", "model")) / 2 ** 20, 1),
        "ms_per_image": {name: round(1000 * components[name] / counts[which], 2)
                         for name, which in PER_IMAGE.items()},
        **figure_e(components, counts["all"], os.path.join(out_root, f"data-x{scale}"),
                   image_size,
                   os.path.join(out_root, "logs", f"plain-decode-x{scale}-{image_size}px.log")),
    }


def markdown(runs) -> str:
    head = ("| data | images | peak memory | examples B/img | transformed B/img | "
            "ingestion ms/img | statistics ms/img | Transform ms/img | Trainer ms/train img | "
            "Evaluator ms/test img | wall | figure e |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        b, ms = r["bytes_per_image"], r["ms_per_image"]
        lines.append(
            f"| {r['scale']}x, {r['image_size']} px | {r['images']['all']:,} | "
            f"{r['peak_memory_mib']:,} MiB | {b['examples']:,} | {b['transformed']:,} | "
            f"{ms['ImageExampleGen']} | {ms['StatisticsGen']} | {ms['Transform']} | "
            f"{ms['Trainer']} | {ms['Evaluator']} | {r['wall_s']:.0f} s | "
            f"{r['ingest_vs_plain_decode']:.2f} ({r['ingest_transform_images_per_s']:.0f} / "
            f"{r['plain_decode_images_per_s']:.0f} img/s) |")
    steps = ["start-up", "ImageExampleGen", "StatisticsGen", "Transform", "Trainer",
             "Evaluator"]
    lines += ["", "Peak memory by component (MiB):", "",
              "| data | " + " | ".join(steps) + " |", "|" + "---|" * (len(steps) + 1)]
    for r in runs:
        by_step = r["peak_memory_mib_by_step"]
        lines.append(f"| {r['scale']}x, {r['image_size']} px | " + " | ".join(
            f"{by_step[s]:,}" if s in by_step else "-" for s in steps) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, action="append",
                        help="data size as a multiple of the demo data (repeatable; "
                             "default 1, 4 and 16)")
    parser.add_argument("--no-paper-size", action="store_true",
                        help="skip the 224 px run")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "bench"))
    args = parser.parse_args()
    runs = [measure(scale, 64, args.out) for scale in args.scale or [1, 4, 16]]
    if not args.no_paper_size:
        runs.append(measure(1, 224, args.out))
    write_results(os.path.join(args.out, "growth.json"), {"runs": runs})
    with open(os.path.join(args.out, "growth.md"), "w") as handle:
        handle.write(markdown(runs))
    print(markdown(runs))


if __name__ == "__main__":
    main()
