"""Runs the pipeline on this machine: TFX's LocalDagRunner, the Beam-powered components on Beam's
DirectRunner in this process (or on another Beam runner), ML Metadata in a local SQLite file."""
import contextlib
import dataclasses
import os
import sys

from pipeline import beam, dataset_schema
from pipeline.configs import SETUP_FILE, PipelineConfig, check_paths
from schema.paths import is_remote


def prepare(config: PipelineConfig) -> PipelineConfig:
    """The config as the local runner will run it. It runs before anything else, so a mistake
    fails in seconds rather than minutes into a run: ValueError for settings that cannot work
    (paths, a remote output folder, a Beam runner without its flags), SpeciesNotInSchema (a
    UserError) for data whose species the schema does not list. `--schema infer` writes the
    data's schema next to the run's outputs here."""
    if is_remote(config.output_dir):
        raise ValueError(f"--output-dir {config.output_dir!r}: a local run keeps ML Metadata "
                         "in a local SQLite file, so it needs a local folder (remote outputs "
                         "are for `rarespecies compile`)")
    infer = config.schema_path == dataset_schema.INFER
    check_paths(config, check_schema=not infer)
    # The Beam-powered components on another runner (Dataflow, Flink, Spark) while this
    # machine orchestrates.
    config = dataclasses.replace(config, beam_args=beam.pipeline_args(
        config.beam_runner, config.beam_args, SETUP_FILE))
    if infer:
        schema_path = dataset_schema.inferred_schema_path(config.output_dir, config.pipeline_name)
        dataset_schema.write_dataset_schema(config.data_root, schema_path, config.csv_index)
        config = dataclasses.replace(config, schema_path=schema_path)
    if not is_remote(config.data_root):
        dataset_schema.check_species(config.data_root, config.schema_path, config.csv_index)
    return config


def run_pipeline(config: PipelineConfig, build=None, observe=None) -> None:
    """Runs with LocalDagRunner the pipeline that `build(config, metadata_connection_config,
    input_fingerprint=...)` makes (default: pipeline.create_pipeline). `observe(component_ids)`,
    a context manager, is entered around the run (the command line's progress lines)."""
    from tfx import v1 as tfx
    from components.image_example_gen import listing
    from pipeline.pipeline import create_pipeline
    build = build or create_pipeline

    config = prepare(config)
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    fingerprint = listing.fingerprint(config.data_root, config.csv_index or None)
    # TFX's Beam executors parse sys.argv with absl flags; our own flags (e.g. -v, which absl
    # reads as --verbosity) must not reach them.
    pipeline = build(
        config, tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        input_fingerprint=fingerprint)
    observing = observe([c.id for c in pipeline.components]) if observe else \
        contextlib.nullcontext()
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        with observing:
            tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        sys.argv = argv
