"""What a run produced, read from ML Metadata: the newest LIVE artifacts of a pipeline (a killed
run's half-written outputs are never LIVE, so they are never picked) and their lineage."""
import os
from typing import Dict, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.image_example_gen.ingest_report import INGEST_REPORT_TYPE


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    if not os.path.exists(metadata_path):
        raise FileNotFoundError(f"no ML Metadata at {metadata_path}: has the pipeline run?")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def latest_artifact(store, pipeline_name: str, type_name: str,
                    uri_prefix: str = "") -> Optional[metadata_store_pb2.Artifact]:
    """The newest LIVE artifact of a type in the pipeline; uri_prefix picks one component's
    outputs (<pipeline_root>/<component id>/) where several components make the type."""
    contexts = [c for c in store.get_contexts_by_type("pipeline") if c.name == pipeline_name]
    if not contexts:
        return None
    in_pipeline = {a.id for a in store.get_artifacts_by_context(contexts[0].id)}
    live = [a for a in store.get_artifacts_by_type(type_name)
            if a.id in in_pipeline and a.state == metadata_store_pb2.Artifact.LIVE
            and a.uri.startswith(uri_prefix)]
    return max(live, key=lambda a: a.id, default=None)


def custom_property(artifact, name: str, default=None):
    if artifact is None or name not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


def run_outputs(metadata_path: str, pipeline_name: str) -> Dict[str, Optional[str]]:
    """URIs of the newest evaluation, blessing and push, and whether the model was pushed."""
    store = open_store(metadata_path)
    evaluation = latest_artifact(store, pipeline_name, "ModelEvaluation")
    blessing = latest_artifact(store, pipeline_name, "ModelBlessing")
    pushed = latest_artifact(store, pipeline_name, "PushedModel")
    report = latest_artifact(store, pipeline_name, INGEST_REPORT_TYPE)
    model_run = latest_artifact(store, pipeline_name, "ModelRun")
    return {
        "evaluation": evaluation.uri if evaluation else None,
        "blessed": bool(custom_property(blessing, "blessed", 0)),
        "pushed": bool(custom_property(pushed, "pushed", 0)),
        "pushed_destination": custom_property(pushed, "pushed_destination"),
        "ingest_report": report.uri if report else None,
        "ingest_report_id": report.id if report else None,
        "model_run": model_run.uri if model_run else None,  # the Trainer's TensorBoard logs
    }


def producer_inputs(store, artifact_id: int) -> Tuple[Dict[str, List], Optional[object]]:
    """The execution that output artifact_id: ({input name: [artifacts]}, execution)."""
    events = store.get_events_by_artifact_ids([artifact_id])
    producers = [e.execution_id for e in events
                 if e.type in (metadata_store_pb2.Event.OUTPUT,
                               metadata_store_pb2.Event.DECLARED_OUTPUT)]
    if not producers:
        return {}, None
    execution = store.get_executions_by_id([producers[-1]])[0]
    inputs = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT):
            key = event.path.steps[0].key if event.path.steps else ""
            inputs.setdefault(key, []).append(event.artifact_id)
    return ({key: store.get_artifacts_by_id(ids) for key, ids in inputs.items()}, execution)


def execution_property(execution, name: str, default=None):
    for properties in (execution.custom_properties, execution.properties):
        if name in properties:
            value = properties[name]
            return getattr(value, value.WhichOneof("value"))
    return default
