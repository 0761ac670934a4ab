"""Training time per epoch of each configuration of one `rarespecies sweep`, read from the
terminal output it printed (or its log), so that every configuration is timed in the same run
on the same data: the median seconds of an epoch (the first epoch, which builds the graph, left
out), of a classifier re-training (cRT: all its epochs; with --validation-classifier a Trainer
re-trains four times) and of the whole Trainer, and each configuration's epoch's ratio to the
first one's (the paper's cross-entropy in a default sweep).

    .venv/bin/rarespecies sweep --demo --image-size 32 --epochs 10 --repeats 3 > sweep.txt
    python benchmarks/sweep_epoch_times.py sweep.txt
"""
import argparse
import re
import statistics
import sys
from collections import defaultdict

TRAINER = re.compile(r"^\[\d+/\d+\] Trainer (?P<label>.+), seed (?P<seed>\d+) \(")
EPOCH = re.compile(r"^\s+epoch (?P<i>\d+)/\d+ .*\((?P<s>[\d.]+) s\)$")
RETRAIN = re.compile(r"^\s+classifier re-training epoch .*\((?P<s>[\d.]+) s\)$")
DONE = re.compile(r" done in (?P<s>[\d.]+) s$")


def read(lines) -> dict:
    """{configuration: {"epochs": [s, ...], "retrain": [s, ...], "trainers": [s, ...]}}"""
    found = defaultdict(lambda: defaultdict(list))
    label = None
    for line in lines:
        line = line.rstrip("\n")
        start = TRAINER.match(line)
        if start:
            label = start["label"]
            done = DONE.search(line)
            if done:
                found[label]["trainers"].append(float(done["s"]))
                label = None
            continue
        if label is None:
            continue
        epoch = EPOCH.match(line)
        if epoch and int(epoch["i"]) > 1:
            found[label]["epochs"].append(float(epoch["s"]))
        retrain = RETRAIN.match(line)
        if retrain:
            found[label]["retrain"].append(float(retrain["s"]))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", help="what the sweep printed")
    args = parser.parse_args(argv)
    with open(args.log, encoding="utf-8", errors="replace") as handle:
        found = read(handle)
    if not found:
        print(f"error: no Trainer lines in {args.log}", file=sys.stderr)
        return 1
    first = None
    print("| configuration | epoch, median s (n) | ratio | cRT, median s a re-training (n) "
          "| Trainer, median s |")
    print("|---|---|---|---|---|")
    for label, times in found.items():
        epoch = statistics.median(times["epochs"]) if times["epochs"] else float("nan")
        first = first or epoch
        retrain = (f"{statistics.median(times['retrain']):.1f} ({len(times['retrain'])})"
                   if times["retrain"] else "-")
        trainer = f"{statistics.median(times['trainers']):.1f}" if times["trainers"] else "-"
        print(f"| {label} | {epoch:.2f} ({len(times['epochs'])}) | {epoch / first:.2f} | "
              f"{retrain} | {trainer} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
