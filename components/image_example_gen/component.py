"""ImageExampleGen: a TFX component that ingests labelled image files as tf.Examples.

Outputs the standard `examples` artifact (so StatisticsGen, Transform and Evaluator read it
as they read any ExampleGen's) and an `ingest_report` artifact listing each rejected file.
"""
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.image_example_gen import executor, ingest_report


class IngestReport(types.Artifact):
    """The ingest report's files (ingest_report.py): summary.json, rejected.csv, notes.csv,
    duplicates.csv."""
    TYPE_NAME = ingest_report.INGEST_REPORT_TYPE


class ImageExampleGenSpec(types.ComponentSpec):
    PARAMETERS = {
        "input_base": ExecutionParameter(type=str),
        # Path of the Kaggle CSV index, relative to input_base; empty: folder-per-class.
        "csv_index": ExecutionParameter(type=str, optional=True),
        # Digest of the input files (listing.fingerprint): part of the cache key, so a run on
        # changed data does not reuse an old ingestion.
        "input_fingerprint": ExecutionParameter(type=str, optional=True),
        # Largest image written as is (pixels); larger JPEGs are downscaled, others rejected.
        # 0 or absent: schema.features.MAX_IMAGE_PIXELS.
        "max_pixels": ExecutionParameter(type=int, optional=True),
        # Without a valid split in the data: the share of each species' train files held out
        # for validation, and the seed that picks them (listing.carve_validation).
        "valid_share": ExecutionParameter(type=float, optional=True),
        "split_seed": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.REPORT_KEY: ChannelParameter(type=IngestReport),
    }


class ImageExampleGen(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, input_base: str, csv_index: Optional[str] = None,
                 input_fingerprint: Optional[str] = None, max_pixels: Optional[int] = None,
                 valid_share: float = executor.DEFAULT_VALID_SHARE, split_seed: int = 0):
        super().__init__(spec=ImageExampleGenSpec(
            input_base=input_base,
            csv_index=csv_index or "",
            input_fingerprint=input_fingerprint or "",
            max_pixels=max_pixels or 0,
            valid_share=float(valid_share),
            split_seed=int(split_seed),
            examples=types.Channel(type=standard_artifacts.Examples),
            ingest_report=types.Channel(type=IngestReport)))
