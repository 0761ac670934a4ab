"""Figure c: the cost of the Table II sweep (`rarespecies sweep`: ingestion, validation and
Transform once, then a Trainer and an Evaluator per configuration) against six separate
`rarespecies run`s, one per configuration, side by side in one run. Every run starts from a
cold cache in its own output folder, on the demo data with demo settings.

    python benchmarks/sweep_reuse.py --backbone full --epochs 3
    python benchmarks/sweep_reuse.py --backbone frozen

Results: out/bench/sweep_reuse-<backbone>.json (and the logs beside it).
"""
import argparse
import os
import shutil

from common import (RARESPECIES, REPO_ROOT, component_seconds, demo_data, run_timed,
                    write_results)
from pipeline.data.paper import TABLE_II_COLUMNS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", choices=("full", "frozen"), default="full")
    parser.add_argument("--epochs", type=int, default=15, help="default: the demo's 15")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "bench"))
    args = parser.parse_args()

    data_root = os.path.join(args.out, "data-x1")
    demo_data(data_root, 1)
    settings = ["--data-root", data_root, "--backbone", args.backbone,
                "--epochs", str(args.epochs)]
    logs = os.path.join(args.out, "logs")
    folder = os.path.join(args.out, f"sweep_reuse-{args.backbone}")
    shutil.rmtree(folder, ignore_errors=True)

    sweep_dir = os.path.join(folder, "sweep")
    sweep_s = run_timed([RARESPECIES, "sweep", "--demo", "--output-dir", sweep_dir] + settings,
                        os.path.join(logs, f"sweep_reuse-{args.backbone}-sweep.log"))
    sweep_components = component_seconds(
        os.path.join(sweep_dir, "metadata", "rarespecies_sweep.sqlite"))

    separate = {}
    for label, loss, alpha, gamma in TABLE_II_COLUMNS:
        run_dir = os.path.join(folder, "run-" + label.replace(" ", "_").replace(".", ""))
        params = ["--loss", loss] + ([] if alpha is None else
                                     ["--alpha", str(alpha), "--gamma", str(gamma)])
        seconds = run_timed([RARESPECIES, "demo", "--output-dir", run_dir] + settings + params,
                            os.path.join(logs, f"sweep_reuse-{args.backbone}-{label}.log"))
        separate[label] = {"wall_s": round(seconds, 1), "components_s": {
            name: round(s, 1) for name, s in sorted(component_seconds(
                os.path.join(run_dir, "metadata", "rarespecies.sqlite")).items())}}
    separate_s = sum(run["wall_s"] for run in separate.values())

    write_results(os.path.join(args.out, f"sweep_reuse-{args.backbone}.json"), {
        "backbone": args.backbone, "epochs": args.epochs,
        "configurations": [column[0] for column in TABLE_II_COLUMNS],
        "sweep_s": round(sweep_s, 1),
        "sweep_components_s": {name: round(s, 1) for name, s in sorted(
            sweep_components.items())},
        "separate_s": round(separate_s, 1), "separate_runs": separate,
        "ratio_sweep_vs_separate": round(sweep_s / separate_s, 3)})


if __name__ == "__main__":
    main()
