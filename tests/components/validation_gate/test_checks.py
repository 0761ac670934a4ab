"""components/validation_gate/checks.py: the ingest-summary checks and reading ExampleValidator's
anomalies from an artifact built by hand."""
import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.validation_gate.checks import check_ingest_summary, read_anomalies
from components.validation_gate.component import DataNotValidError


def summary(train, eval_, valid=None):
    """An ingest summary; the valid split holds one image of the first train species."""
    valid = {next(iter(train)): 1} if valid is None and train else valid or {}
    return {"files_read": 0, "examples_written": 0, "files_rejected": 0,
            "counts": {"train": train, "eval": eval_, "valid": valid}}


def test_normal_summary_has_no_problems():
    assert check_ingest_summary(summary({"Robin": 4, "Crow": 6}, {"Robin": 2, "Crow": 1})) == []
    # A species with train images but none in eval is fine (the schema and TFMA see to it).
    assert check_ingest_summary(summary({"Robin": 4, "Crow": 6}, {"Robin": 2})) == []


def test_species_in_eval_but_not_train_is_named():
    problems = check_ingest_summary(summary({"Robin": 4}, {"Robin": 1, "Quetzal": 2, "Crow": 1}))
    assert len(problems) == 1
    assert "'eval'" in problems[0] and "not in 'train'" in problems[0]
    assert problems[0].endswith(": Crow, Quetzal")
    assert "Robin" not in problems[0]


def test_species_in_valid_but_not_train_is_named():
    s = summary({"Robin": 4}, {"Robin": 1})
    s["counts"]["valid"] = {"Palila": 1}
    problems = check_ingest_summary(s)
    assert len(problems) == 1 and "'valid'" in problems[0] and problems[0].endswith("Palila")


@pytest.mark.parametrize("counts", [{"train": {"Robin": 4}, "eval": {}, "valid": {"Robin": 1}},
                                    {"train": {"Robin": 4}, "valid": {"Robin": 1}}],
                         ids=["empty", "absent"])
def test_empty_eval_split_is_reported(counts):
    problems = check_ingest_summary({"counts": counts})
    assert problems == ["split 'eval' has no decodable images"]


def test_empty_valid_split_is_reported():
    problems = check_ingest_summary(summary({"Robin": 4}, {"Robin": 1}, valid={}))
    assert problems == ["split 'valid' has no decodable images"]


def test_empty_train_split_is_reported():
    problems = check_ingest_summary(summary({}, {"Robin": 1}))
    assert problems[0] == "split 'train' has no decodable images"
    assert any("but not in 'train'" in p and p.endswith("Robin") for p in problems[1:])


def anomalies_artifact(tmp_path, per_split):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    for split, anomalies in per_split.items():
        os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
        with open(os.path.join(artifact.uri, f"Split-{split}", "SchemaDiff.pb"), "wb") as handle:
            handle.write(anomalies.SerializeToString())
    artifact.split_names = artifact_utils.encode_split_names(list(per_split))
    return artifact


def test_read_anomalies_names_split_feature_and_description(tmp_path):
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["species"]
    info.short_description = "Unexpected string values"
    info.description = "Examples contain values missing from the schema: Dodo (~1%)."
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    problems = read_anomalies(anomalies_artifact(tmp_path, {"eval": anomalies}))
    assert problems == ["split 'eval', feature 'species': Unexpected string values: "
                        "Examples contain values missing from the schema: Dodo (~1%)."]


def test_read_anomalies_empty_and_multiple_splits(tmp_path):
    assert read_anomalies(anomalies_artifact(tmp_path / "a", {"eval": anomalies_pb2.Anomalies()})) == []

    train = anomalies_pb2.Anomalies()
    train.anomaly_info["image"].short_description = "Column dropped"
    train.anomaly_info["image"].description = "The feature was present in fewer examples."
    train.dataset_anomaly_info.short_description = "Low num examples"
    train.dataset_anomaly_info.description = "The dataset has 3 examples, fewer than 10."
    problems = read_anomalies(anomalies_artifact(
        tmp_path / "b", {"train": train, "eval": anomalies_pb2.Anomalies()}))
    assert problems == [
        "split 'train', feature 'image': Column dropped: The feature was present in fewer examples.",
        "split 'train': Low num examples: The dataset has 3 examples, fewer than 10.",
    ]


def test_read_anomalies_sorted_by_feature(tmp_path):
    anomalies = anomalies_pb2.Anomalies()
    for feature in ("species", "filename", "image"):
        anomalies.anomaly_info[feature].short_description = "x"
        anomalies.anomaly_info[feature].description = "y"
    problems = read_anomalies(anomalies_artifact(tmp_path, {"eval": anomalies}))
    assert [p.split("'")[3] for p in problems] == ["filename", "image", "species"]


def test_gate_error_type():
    assert issubclass(DataNotValidError, RuntimeError)
