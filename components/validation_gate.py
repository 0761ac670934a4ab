"""ValidationGate: stops the run before Transform and Trainer when the data are not fit to train on.

ExampleValidator records anomalies but lets the pipeline go on; this component reads them
(and ingestion's report) and fails with a message that names each problem.
"""
import os
from typing import List

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.image_example_gen import executor as ingest
from components.image_example_gen.component import IngestReport


class DataNotValidError(RuntimeError):
    pass


def read_anomalies(anomalies_artifact) -> List[str]:
    """One line per anomaly: split, feature and TFDV's description."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(anomalies_artifact.uri, f"Split-{split}", "SchemaDiff.pb")
        anomalies = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as handle:
            anomalies.ParseFromString(handle.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            problems.append(f"split {split!r}, feature {feature!r}: "
                            f"{info.short_description}: {info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            problems.append(f"split {split!r}: {info.short_description}: {info.description}")
    return problems


def check_ingest_summary(summary) -> List[str]:
    """Problems that the schema cannot see: a split with no examples, species with no train data."""
    counts = summary["counts"]
    problems = [f"split {split!r} has no decodable images" for split in ("train", "eval")
                if not counts.get(split)]
    train = set(counts.get("train", {}))
    for split, per_species in counts.items():
        unseen = sorted(set(per_species) - train)
        if unseen:
            problems.append(f"species in {split!r} but not in 'train' (the model cannot learn "
                            f"them): {', '.join(unseen)}")
    return problems


@component
def ValidationGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
                   ingest_report: InputArtifact[IngestReport]) -> None:
    problems = read_anomalies(anomalies) + check_ingest_summary(ingest.load_summary(ingest_report.uri))
    if problems:
        raise DataNotValidError("the data failed validation; fix the data or the schema "
                                "(schema/schema.pbtxt) and run again:\n  - "
                                + "\n  - ".join(problems))
