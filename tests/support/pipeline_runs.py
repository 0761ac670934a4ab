"""Small real pipeline runs for the end-to-end tests: a config that trains in seconds, and what
ML Metadata recorded about a run's components."""
from pipeline.configs import make_config


def small_config(tmp, **overrides):
    """The default recipe at 32 px, 1 epoch, random initial weights, no blessing floor; data
    under tmp/data, outputs under tmp/out."""
    values = dict(data_root=str(tmp / "data"), output_dir=str(tmp / "out"), image_size=32,
                  epochs=1, batch_size=8, learning_rate=1e-3, min_accuracy=0.0,
                  weights="none")
    values.update(overrides)
    return make_config(values)


def executions(config, type_suffix):
    """The state name of each execution of a component (by type-name suffix), from ML Metadata."""
    from ml_metadata.proto import metadata_store_pb2
    from pipeline.reports import mlmd
    store = mlmd.open_store(config.metadata_path)
    found = []
    for execution_type in store.get_execution_types():
        if execution_type.name.endswith(type_suffix):
            for execution in store.get_executions_by_type(execution_type.name):
                found.append(metadata_store_pb2.Execution.State.Name(execution.last_known_state))
    return found
