"""Helpers shared by the tests that run ImageExampleGen's executor on files they write."""
import os

from tfx.types import standard_artifacts

from components.image_example_gen import component, executor


def write(root, rel, data: bytes) -> str:
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def run_executor(tmp_path, input_base, **exec_properties):
    """Runs the real executor (Beam in memory) into tmp_path; returns (examples, report)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    report = component.IngestReport()
    report.uri = str(tmp_path / "report")
    os.makedirs(examples.uri)
    os.makedirs(report.uri)
    executor.Executor().Do(
        {}, {executor.EXAMPLES_KEY: [examples], executor.REPORT_KEY: [report]},
        dict({"input_base": str(input_base), "csv_index": "", "input_fingerprint": ""},
             **exec_properties))
    return examples, report
