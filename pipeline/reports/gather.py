"""What a report is about, as plain data: `ReportData`, and `gather(config)`, which reads it from a
run's ML Metadata (mlmd.py), TFMA's output (metrics_table.py) and the ingest report. Everything
that writes a report (report.py, model_card.py, figures.py) takes a ReportData, so tests can
fabricate one."""
import dataclasses
import json
import os
from typing import Dict, List, Optional

from schema.features import EVAL, LABEL_KEY, SPECIES_VOCAB, TRAIN


@dataclasses.dataclass
class ReportData:
    pipeline_name: str
    # metrics_table.load() of each model evaluated: "candidate", and "baseline" if any.
    tables: Dict[str, Dict]
    # The candidate's species in label-id order (its Transform vocabulary).
    species: List[str]
    train_counts: Dict[str, int]
    test_counts: Dict[str, int] = dataclasses.field(default_factory=dict)
    evaluation_uri: str = ""
    validation: Dict = dataclasses.field(default_factory=dict)  # ok, failures, rubber_stamp
    blessed: bool = False
    pushed: bool = False
    pushed_destination: Optional[str] = None
    model_name: str = ""
    training: Dict = dataclasses.field(default_factory=dict)   # the Trainer's custom_config
    choices: Dict = dataclasses.field(default_factory=dict)    # training_report.json
    data_root: str = ""
    files_rejected: int = 0


def models(data: ReportData) -> List[str]:
    return [m for m in ("candidate", "baseline") if data.tables.get(m)]


def species_rows(data: ReportData) -> List[Dict]:
    """One row per species, most train images first: counts and the candidate's scores."""
    table = data.tables["candidate"]
    per_class = table.get("per_class", {})
    evaluated = table.get(LABEL_KEY, {})
    rows = []
    for class_id, name in enumerate(data.species):
        scores = per_class.get(class_id, {})
        count = evaluated.get(name, {}).get("example_count", data.test_counts.get(name, 0))
        rows.append(dict(species=name, train_count=int(data.train_counts.get(name, 0)),
                         test_count=int(count or 0), precision=scores.get("precision"),
                         recall=scores.get("recall"), f1=scores.get("f1")))
    return sorted(rows, key=lambda r: (-r["train_count"], r["species"]))


def read_training_report(model_uri: str) -> Dict:
    """What the Trainer chose on the validation split (trainer/task.py), {} for older models."""
    from tfx.dsl.io import fileio
    path = os.path.join(model_uri, "Format-Serving", "assets.extra", "training_report.json")
    if not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as handle:
        return json.load(handle)


def _read_vocabulary(model_uri: str) -> List[str]:
    from tfx.dsl.io import fileio
    path = os.path.join(model_uri, "Format-Serving", "assets", SPECIES_VOCAB)
    with fileio.open(path, "r") as handle:
        return [line.rstrip("\n") for line in handle if line.rstrip("\n")]


def _validation(evaluation_uri: str) -> Dict:
    import tensorflow_model_analysis as tfma
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except Exception:  # noqa: BLE001 - no validation file: say so in the report
        return {}
    failures = []
    for per_slice in result.metric_validations_per_slice:
        slice_name = ", ".join(
            f"{k.column}={k.bytes_value.decode() if k.HasField('bytes_value') else k}"
            for k in per_slice.slice_key.single_slice_keys) or "overall"
        for failure in per_slice.failures:
            key = failure.metric_key
            name = key.name + (" change vs baseline" if key.is_diff else "")
            threshold = failure.metric_threshold
            if threshold.HasField("change_threshold"):
                limit = f"must be >= {threshold.change_threshold.absolute.value:+.3f}"
            else:
                limit = f"must be >= {threshold.value_threshold.lower_bound.value:.3f}"
            failures.append(f"{slice_name}: {name} = "
                            f"{failure.metric_value.double_value.value:+.3f} ({limit})")
    for spec in result.missing_slices:
        failures.append(f"slice not found: {dict(spec.feature_values) or spec}")
    return {"ok": bool(result.validation_ok), "failures": failures,
            "rubber_stamp": bool(result.rubber_stamp)}


def gather(config) -> ReportData:
    """Everything about the newest evaluation of config's pipeline."""
    from components.image_example_gen.ingest_report import load_summary
    from pipeline.reports import metrics_table, mlmd

    outputs = mlmd.run_outputs(config.metadata_path, config.pipeline_name)
    if not outputs["evaluation"]:
        raise FileNotFoundError(f"no evaluation of pipeline {config.pipeline_name!r} in "
                                f"{config.metadata_path}: has the pipeline run to the Evaluator?")
    store = mlmd.open_store(config.metadata_path)
    evaluation = mlmd.latest_artifact(store, config.pipeline_name, "ModelEvaluation")
    inputs, _ = mlmd.producer_inputs(store, evaluation.id)
    model = inputs["model"][0]
    names = metrics_table.model_names(evaluation.uri)
    tables = {"candidate": metrics_table.load(evaluation.uri, names["candidate"])}
    if names["baseline"] is not None:
        tables["baseline"] = metrics_table.load(evaluation.uri, names["baseline"])

    _, trainer = mlmd.producer_inputs(store, model.id)
    training = json.loads(mlmd.execution_property(trainer, "custom_config", "{}") or "{}") \
        if trainer else {}
    ingest = load_summary(outputs["ingest_report"]) if outputs["ingest_report"] else {}
    data_root = ""
    if outputs["ingest_report_id"] is not None:
        _, example_gen = mlmd.producer_inputs(store, outputs["ingest_report_id"])
        data_root = mlmd.execution_property(example_gen, "input_base", "") if example_gen else ""
    counts = ingest.get("counts", {})
    return ReportData(
        pipeline_name=config.pipeline_name, tables=tables,
        species=_read_vocabulary(model.uri), train_counts=counts.get(TRAIN, {}),
        test_counts=counts.get(EVAL, {}), evaluation_uri=evaluation.uri,
        validation=_validation(evaluation.uri), blessed=outputs["blessed"],
        pushed=outputs["pushed"], pushed_destination=outputs["pushed_destination"],
        model_name=config.model_name, training=training, data_root=data_root,
        choices=read_training_report(model.uri),
        files_rejected=int(ingest.get("files_rejected", 0)))
