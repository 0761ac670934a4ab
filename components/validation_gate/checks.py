"""The validation gate's checks: everything that stops a run before Transform, as plain lines.

ExampleValidator records anomalies but lets the pipeline go on; the gate (component.py) reads
them (and ingestion's report) and fails with a message that names each problem.

Two checks are policies (`on_leakage`, `on_drift`: "fail" or "warn"):
  * leakage: the same image (sha256 of the file) in train and in eval/valid. Fails by default.
  * drift: DistributionValidator's comparison of the eval split's species distribution with
    train's (L-infinity distance over a threshold). Warns by default: the paper's test split is
    balanced (20-60 a species) while train is long-tailed, so eval differs from train by design.
Warnings are logged and do not stop the run.
"""
import os
from typing import List, Tuple

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from schema.features import EVAL, TRAIN, VALID

POLICIES = ("fail", "warn")


def read_anomalies(anomalies_artifact, prefix: str = "Split") -> List[str]:
    """One line per anomaly: split, feature and TFDV's description. `prefix`: "Split" for
    ExampleValidator's output, "SplitPair" for DistributionValidator's (split "eval_train")."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(anomalies_artifact.uri, f"{prefix}-{split}", "SchemaDiff.pb")
        anomalies = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as handle:
            anomalies.ParseFromString(handle.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            # DistributionValidator leaves the summary empty and says it in the reasons.
            described = ([(info.short_description, info.description)] if info.description
                         else [(r.short_description, r.description) for r in info.reason])
            for short, description in described:
                problems.append(f"split {split!r}, feature {feature!r}: "
                                f"{short}: {description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            problems.append(f"split {split!r}: {info.short_description}: {info.description}")
    return problems


def check_ingest_summary(summary) -> List[str]:
    """Problems that the schema cannot see: a split with no examples, species with no train data."""
    counts = summary["counts"]
    problems = [f"split {split!r} has no decodable images" for split in (TRAIN, EVAL, VALID)
                if not counts.get(split)]
    train = set(counts.get(TRAIN, {}))
    for split, per_species in counts.items():
        unseen = sorted(set(per_species) - train)
        if unseen:
            problems.append(f"species in {split!r} but not in 'train' (the model cannot learn "
                            f"them): {', '.join(unseen)}")
    return problems


def leakage_lines(summary) -> List[str]:
    """One line per image found in more than one split, naming its files."""
    return [f"the same image (sha256 {group['sha256'][:12]}...) is in splits "
            f"{', '.join(repr(s) for s in group['splits'])}: {', '.join(group['files'])}"
            for group in summary.get("leakage", [])]


def evaluate(anomalies: List[str], summary, drift: List[str], on_leakage: str = "fail",
             on_drift: str = "warn") -> Tuple[List[str], List[str]]:
    """(problems that stop the run, warnings) from everything the gate reads."""
    for name, value in (("on_leakage", on_leakage), ("on_drift", on_drift)):
        if value not in POLICIES:
            raise ValueError(f"{name} must be one of {POLICIES}, got {value!r}")
    problems = anomalies + check_ingest_summary(summary)
    warnings = list(summary.get("warnings", []))
    leaks = leakage_lines(summary)
    if leaks:
        leaks = [f"train/test leakage: {line}" for line in leaks]
        if on_leakage == "fail":
            problems += leaks + ["remove the copies from one split (ingest_report "
                                 "duplicates.csv), or run with --on-leakage warn"]
        else:
            warnings += leaks
    drift = [f"species distribution drift (eval against train): {line}" for line in drift]
    (problems if on_drift == "fail" else warnings).extend(drift)
    return problems, warnings
