"""ValidationGate: stops the run before Transform and Trainer when the data are not fit to
train on (checks.py says what that means)."""
import logging

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.image_example_gen.component import IngestReport
from components.image_example_gen.ingest_report import load_summary
from components.validation_gate import checks
from schema.errors import UserError

log = logging.getLogger(__name__)


class DataNotValidError(UserError, RuntimeError):
    """The data failed validation: a user error (fix the data or the schema), not a bug."""


@component
def ValidationGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
                   ingest_report: InputArtifact[IngestReport],
                   drift_anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
                   on_leakage: Parameter[str] = "fail",
                   on_drift: Parameter[str] = "warn") -> None:
    problems, warnings = checks.evaluate(
        checks.read_anomalies(anomalies), load_summary(ingest_report.uri),
        checks.read_anomalies(drift_anomalies, prefix="SplitPair"), on_leakage, on_drift)
    for warning in warnings:
        log.warning("validation warning: %s", warning)
    if problems:
        raise DataNotValidError("the data failed validation; fix the data or the schema "
                                "(schema/schema.pbtxt) and run again:\n  - "
                                + "\n  - ".join(problems))
