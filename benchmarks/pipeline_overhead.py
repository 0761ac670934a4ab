"""Figures a, e and f: what the pipeline costs on top of the work it does.

For each data size (the demo data, and multiples of it), side by side in one run:
  a. wall time of `rarespecies demo` (a run with the demo settings, from a cold cache, TF
     imports and the report included) against plain_keras.py, which trains the same model
     with the same loss, augmentation and epochs on tf.data read straight from the folders;
  e. images/s of ImageExampleGen + Transform (their ML Metadata execution times) against
     plain_decode.py, which decodes and resizes the same files with tf.io in a loop;
  f. both at each size, to show how the cost grows.

    python benchmarks/pipeline_overhead.py --scale 1 --scale 4 [--epochs 15] [--beam-arg ...]

Results: out/bench/pipeline_overhead.json (and the logs beside it).
"""
import argparse
import os
import shutil
import sys

from common import (RARESPECIES, REPO_ROOT, component_seconds, demo_data, figure_e,
                    last_json_line, run_timed, write_results)

from trainer.hparams import RECIPES  # importable once common has put the repository on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(scale: int, epochs: int, beam_args, out_root: str) -> dict:
    data_root = os.path.join(out_root, f"data-x{scale}")
    counts = demo_data(data_root, scale)
    run_dir = os.path.join(out_root, f"overhead-x{scale}")
    shutil.rmtree(run_dir, ignore_errors=True)
    logs = os.path.join(out_root, "logs")

    pipeline_s = run_timed(
        [RARESPECIES, "demo", "--data-root", data_root, "--output-dir", run_dir,
         "--epochs", str(epochs)] + [f"--beam-arg={arg}" for arg in beam_args],
        os.path.join(logs, f"overhead-x{scale}-pipeline.log"))
    components = component_seconds(os.path.join(run_dir, "metadata", "rarespecies.sqlite"))

    plain_log = os.path.join(logs, f"overhead-x{scale}-plain.log")
    plain_s = run_timed([sys.executable, os.path.join(HERE, "plain_keras.py"), "--data-root",
                         data_root, "--image-size", "64", "--epochs", str(epochs),
                         # the batch of the demo's (default) recipe: the same number of steps
                         "--batch-size", str(RECIPES["longtail"]["batch_size"])], plain_log)
    plain = last_json_line(plain_log)

    images = counts["train"] + counts["test"] + counts["valid"]
    return {
        "scale": scale, "train_images": counts["train"], "test_images": counts["test"],
        "epochs": epochs,
        "pipeline_s": round(pipeline_s, 1), "plain_keras_s": round(plain_s, 1),
        "overhead_ratio": round(pipeline_s / plain_s, 2),
        "plain_keras": plain,
        "components_s": {name: round(s, 1) for name, s in sorted(components.items())},
        **figure_e(components, images, data_root, 64,
                   os.path.join(logs, f"overhead-x{scale}-decode.log")),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, action="append",
                        help="data size as a multiple of the demo data (repeatable; default 1)")
    parser.add_argument("--epochs", type=int, default=15, help="default: the demo's 15")
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="passed to `rarespecies run` (default: its DirectRunner settings)")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "bench"))
    args = parser.parse_args()
    results = [measure(scale, args.epochs, args.beam_arg, args.out)
               for scale in args.scale or [1]]
    write_results(os.path.join(args.out, "pipeline_overhead.json"), {"runs": results})


if __name__ == "__main__":
    main()
