"""Runs the pipeline on this machine: TFX's LocalDagRunner, the Beam-powered components on Beam's
DirectRunner in this process (or on another Beam runner), ML Metadata in a local SQLite file."""
import dataclasses
import os
import sys

from pipeline import beam
from pipeline.configs import SETUP_FILE, PipelineConfig, check_paths
from schema.features import is_remote


def prepare(config: PipelineConfig) -> PipelineConfig:
    """The config as the local runner will run it, or ValueError naming what cannot work:
    paths (configs.check_paths), a remote output folder, a Beam runner without its flags. It
    runs before anything else, so a mistake fails in seconds rather than minutes into a run."""
    if is_remote(config.output_dir):
        raise ValueError(f"--output-dir {config.output_dir!r}: a local run keeps ML Metadata "
                         "in a local SQLite file, so it needs a local folder (remote outputs "
                         "are for `rarespecies compile`)")
    check_paths(config)
    # The Beam-powered components on another runner (Dataflow, Flink, Spark) while this
    # machine orchestrates.
    return dataclasses.replace(config, beam_args=beam.pipeline_args(
        config.beam_runner, config.beam_args, SETUP_FILE))


def run_pipeline(config: PipelineConfig, build=None) -> None:
    """Runs with LocalDagRunner the pipeline that `build(config, metadata_connection_config,
    input_fingerprint=...)` makes (default: pipeline.create_pipeline)."""
    from tfx import v1 as tfx
    from components.image_example_gen import listing
    from pipeline.pipeline import create_pipeline
    build = build or create_pipeline

    config = prepare(config)
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    fingerprint = listing.fingerprint(config.data_root, config.csv_index or None)
    # TFX's Beam executors parse sys.argv with absl flags; our own flags (e.g. -v, which absl
    # reads as --verbosity) must not reach them.
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        tfx.orchestration.LocalDagRunner().run(build(
            config,
            tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
            input_fingerprint=fingerprint))
    finally:
        sys.argv = argv
