"""Validation: what stops a run before Transform and what is only reported.

Statistics are computed in memory with TFDV, then the real ExampleValidator and
DistributionValidator executors run on them (as in the pipeline), and the gate reads their
output: a missing feature or a changed image format stops the run; drift of the species
distribution between train and eval is a warning unless on_drift is "fail"; leakage fails unless
on_leakage is "warn"."""
import os
import shutil

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tfx.components.distribution_validator import executor as dv_executor
from tfx.components.example_validator import executor as ev_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import json_utils
from tfx_bsl.coders import example_coder

from components.validation_gate import checks as validation_gate
from pipeline.pipeline import species_drift_config
from schema.features import SCHEMA_PATH, frequency_groups
from tests.support import bad_files

TRAIN = {"Sora": 40, "House Finch": 30, "Robin": 4, "Araripe Manakin": 2}
GROUPS = frequency_groups(TRAIN)


def example(species, i, image=None, drop=(), image_as_ints=False):
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[image or bad_files.rgb_jpeg(seed=i, size=(8, 8))])),
        "species": tf.train.Feature(bytes_list=tf.train.BytesList(value=[species.encode()])),
        "frequency_group": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[g.encode() for g in GROUPS[species]])),
        "filename": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[f"x/{species}/{i}.jpg".encode()])),
    }
    if image_as_ints:  # decoded pixels written instead of the encoded file
        feature["image"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 2, 3]))
    for name in drop:
        del feature[name]
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def split_examples(counts, **kwargs):
    out, i = [], 0
    for species, n in counts.items():
        for _ in range(n):
            out.append(example(species, i, **kwargs))
            i += 1
    return out


def statistics_artifact(tmp_path, splits: dict):
    """An ExampleStatistics artifact as StatisticsGen writes it (given the curated schema, as
    the pipeline gives it), from serialized examples."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(tmp_path / "statistics")
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    for split, serialized in splits.items():
        stats = stats_impl.generate_statistics_in_memory(
            decoder.DecodeBatch(serialized),
            tfdv.StatsOptions(schema=tfdv.load_schema_text(SCHEMA_PATH)))
        os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
        with open(os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(stats.SerializeToString())
    return artifact


def example_validator(tmp_path, statistics):
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    shutil.copy(SCHEMA_PATH, schema.uri)
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    ev_executor.Executor().Do({"statistics": [statistics], "schema": [schema]},
                              {"anomalies": [anomalies]}, {"exclude_splits": "[]"})
    return validation_gate.read_anomalies(anomalies)


def drift_validator(tmp_path, statistics, threshold=0.1):
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "drift")
    dv_executor.Executor().Do(
        {"statistics": [statistics], "baseline_statistics": [statistics]},
        {"anomalies": [anomalies]},
        {"include_split_pairs": json_utils.dumps([("eval", "train")]),
         "distribution_validator_config": species_drift_config(threshold)})
    return validation_gate.read_anomalies(anomalies, prefix="SplitPair")


def summary(leakage=()):
    return {"counts": {"train": TRAIN, "eval": {s: 5 for s in TRAIN}, "valid": {s: 1 for s in TRAIN}},
            "leakage": list(leakage), "warnings": []}


def test_good_data_has_no_anomalies(tmp_path):
    stats = statistics_artifact(tmp_path, {"train": split_examples(TRAIN),
                                           "eval": split_examples(TRAIN)})
    assert example_validator(tmp_path, stats) == []
    assert drift_validator(tmp_path, stats) == []  # same distribution: no drift


def test_missing_feature_is_an_anomaly_that_stops_the_run(tmp_path):
    stats = statistics_artifact(tmp_path, {
        "train": split_examples(TRAIN),
        "eval": split_examples({s: 5 for s in TRAIN}, drop=("filename",))})
    anomalies = example_validator(tmp_path, stats)
    assert anomalies == ["split 'eval', feature 'filename': Column dropped: Column is completely "
                         "missing"]
    problems, _ = validation_gate.evaluate(anomalies, summary(), drift=[])
    assert problems == anomalies


def test_changed_image_format_is_an_anomaly_that_stops_the_run(tmp_path):
    """Decoded pixels (int64) written where the encoded file (bytes) belongs."""
    stats = statistics_artifact(tmp_path, {
        "train": split_examples(TRAIN),
        "eval": split_examples({s: 5 for s in TRAIN}, image_as_ints=True)})
    anomalies = example_validator(tmp_path, stats)
    assert len(anomalies) == 1 and anomalies[0].startswith("split 'eval', feature 'image': ")
    assert "Expected data of type: BYTES but got INT" in anomalies[0]
    problems, _ = validation_gate.evaluate(anomalies, summary(), drift=[])
    assert problems


def test_species_drift_is_reported_not_fatal_by_default(tmp_path):
    """The paper's case: a long-tailed train split and a balanced test split."""
    stats = statistics_artifact(tmp_path, {"train": split_examples(TRAIN),
                                           "eval": split_examples({s: 10 for s in TRAIN})})
    drift = drift_validator(tmp_path, stats)
    assert len(drift) == 1
    assert drift[0].startswith("split 'eval_train', feature 'species': ")
    assert drift[0].endswith("High Linfty distance between current and previous: The Linfty "
                             "distance between current and previous is 0.276316 (up to six "
                             "significant digits), above the threshold 0.1. The feature value "
                             "with maximum difference is: Sora")  # 40/76 - 10/40
    problems, warnings = validation_gate.evaluate([], summary(), drift)
    assert problems == []
    assert warnings == [f"species distribution drift (eval against train): {drift[0]}"]
    problems, _ = validation_gate.evaluate([], summary(), drift, on_drift="fail")
    assert problems == warnings
    # A looser threshold: no drift.
    assert drift_validator(tmp_path / "loose", stats, threshold=0.5) == []


LEAK = {"sha256": "ab" * 32, "splits": ["eval", "train"], "species": ["Robin"],
        "files": ["test/Robin/copy.jpg", "train/Robin/a.jpg"]}


def test_leakage_fails_by_default_naming_the_files():
    problems, warnings = validation_gate.evaluate([], summary([LEAK]), drift=[])
    assert problems[0] == ("train/test leakage: the same image (sha256 abababababab...) is in "
                           "splits 'eval', 'train': test/Robin/copy.jpg, train/Robin/a.jpg")
    assert "--on-leakage warn" in problems[1]
    assert warnings == []


def test_leakage_only_warns_when_configured():
    problems, warnings = validation_gate.evaluate([], summary([LEAK]), drift=[],
                                                  on_leakage="warn")
    assert problems == []
    assert warnings == ["train/test leakage: the same image (sha256 abababababab...) is in "
                        "splits 'eval', 'train': test/Robin/copy.jpg, train/Robin/a.jpg"]


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="on_leakage"):
        validation_gate.evaluate([], summary(), [], on_leakage="ignore")


def test_ingest_warnings_pass_through_and_species_not_in_train_fails():
    s = summary()
    s["warnings"] = ["species folder train/Crow/ is empty: the species is absent from that split"]
    s["counts"]["eval"]["Crow"] = 3
    problems, warnings = validation_gate.evaluate([], s, [])
    assert warnings == s["warnings"]
    assert problems == ["species in 'eval' but not in 'train' (the model cannot learn them): Crow"]
