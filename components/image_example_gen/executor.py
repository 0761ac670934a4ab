"""Executor of ImageExampleGen: image files -> tf.Examples, with every rejected file accounted for.

Beam does the reading and checking (image_check.py, the heavy part), then reads each passed
file again to write it with its species' frequency groups, which need the whole train split's
counts first. The per-file records it leaves are reconciled into the ingest report
(ingest_report.py): files read = examples written + files rejected, and the records in the
written files = examples written, or the component fails.
"""
import concurrent.futures
import dataclasses
import functools
import logging
import os
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components import tfrecords
from components.image_example_gen import ingest_report, listing
from components.image_example_gen.image_check import Checked, bytes_to_write, check_images
from schema import features
from schema.features import MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)

EXAMPLES_KEY = "examples"
# Share of each species' train files held out for validation when the data have no valid split.
DEFAULT_VALID_SHARE = 0.1
REPORT_KEY = "ingest_report"
CHECK_THREADS = min(os.cpu_count() or 1, 8)
CHECK_BATCH = 32  # files a thread pool reads at once
LISTING_FILE = "listing.jsonl"  # in the report's work folder, removed with it
# Examples are written as plain TFRecord files, not gzipped as TFX's own ExampleGen does:
# encoded images do not compress, and zlib on Beam's one writing thread was the largest single
# cost of ingestion, paid again by every component that reads them. TFX's readers (TFXIO,
# tf.data via tfx_bsl) pick the compression from the file name, so they read either.
EXAMPLE_FILE_PREFIX = "data_tfrecord"
# Here, where pipelines import ingestion: on the local runner, before any component writes or
# reads a TFRecord.
tfrecords.use_hardware_crc32c()


def to_example(checked, groups: Dict[str, List[str]]) -> tf.train.Example:
    image_file, data = checked.file, checked.data
    bytes_list = lambda values: tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    return tf.train.Example(features=tf.train.Features(feature={
        features.IMAGE_KEY: bytes_list([data]),
        features.LABEL_KEY: bytes_list([image_file.species.encode()]),
        # A species absent from train has no group; the run stops on it before training.
        features.FREQUENCY_GROUP_KEY: bytes_list(
            [g.encode() for g in groups.get(image_file.species, [])]),
        features.FILENAME_KEY: bytes_list([image_file.filename.encode()]),
    }))


def written_example(verdict: Checked, groups: Dict[str, List[str]],
                    max_pixels: int) -> tf.train.Example:
    """The example of a file the check passed, its bytes read again (image_check.bytes_to_write)."""
    data = bytes_to_write(verdict, max_pixels)
    return to_example(dataclasses.replace(verdict, data=data), groups)


def written_examples(verdicts: List[Checked], map_on, groups: Dict[str, List[str]],
                     max_pixels: int):
    """written_example for each verdict of a batch, mapped with `map_on`."""
    return map_on(lambda verdict: written_example(verdict, groups, max_pixels), verdicts)


class _OnThreads(beam.DoFn):
    """Runs `batch_fn(batch, map_on, *side_inputs)` on each batch of elements, with `map_on` the
    map of a pool of CHECK_THREADS threads (results in the batch's order). Ingestion's work is
    reading, hashing and TensorFlow's decode, which all release the GIL: a Beam worker uses
    every core it has, also the one local worker of the DirectRunner in memory."""

    def __init__(self, batch_fn):
        super().__init__()
        self._batch_fn = batch_fn
        self._pool = None

    def setup(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=CHECK_THREADS)

    def process(self, batch, *side_inputs):
        yield from self._batch_fn(batch, self._pool.map, *side_inputs)

    def teardown(self):
        if self._pool is not None:
            self._pool.shutdown()


def _route(result):
    """A check's result to the `ok` output (the verdict without the image bytes: Beam keeps
    that PCollection whole until the train counts are complete) or to `rejected`."""
    status, payload = result
    if status == "ok":
        yield payload.without_data()
    else:
        yield beam.pvalue.TaggedOutput("rejected", payload)


def _batches():
    return beam.BatchElements(min_batch_size=CHECK_BATCH, max_batch_size=CHECK_BATCH)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes `examples` (Split-<name>/data_tfrecord-*, uncompressed) and `ingest_report`."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])
        listed = listing.list_dataset(exec_properties["input_base"],
                                      exec_properties.get("csv_index") or None)
        if not any(f.split == features.EVAL for f in listed):
            # Evaluation and the train/eval drift check need it: say so here, at the source.
            raise listing.DatasetError(
                f"no test images under {exec_properties['input_base']!r}: expected "
                "test/<Species>/ folders (or 'test' rows in the CSV index)")
        files = listing.carve_validation(listed, float(exec_properties.get("valid_share") or
                                                       DEFAULT_VALID_SHARE),
                                         int(exec_properties.get("split_seed") or 0))
        held_out = sum(f.held_out for f in files)
        splits = sorted({f.split for f in files},
                        key=list(features.SPLIT_FOLDERS.values()).index)
        work_dir = os.path.join(report.uri, "_beam")
        max_pixels = int(exec_properties.get("max_pixels") or MAX_IMAGE_PIXELS)
        empty_folders = ([] if exec_properties.get("csv_index") else
                         listing.empty_species_folders(exec_properties["input_base"], files))

        # The listing goes to the workers as a file, a batch of files a line (Beam's cost per
        # element is paid once a batch up to the check): in the pipeline's definition
        # (beam.Create) it was pickled and compressed whole, more than once, and a project's
        # hundreds of thousands of files would outgrow a runner's limit on a job's size.
        listing_file = os.path.join(work_dir, LISTING_FILE)
        listing.write_batches(listing_file, listing.write_order(
            files, int(exec_properties.get("split_seed") or 0)), CHECK_BATCH)

        with self._make_beam_pipeline() as pipeline:
            routed = (pipeline
                      | "ListFiles" >> beam.io.ReadFromText(listing_file)
                      | "Batches" >> beam.Map(listing.batch_from_line)
                      | "Reshuffle" >> beam.Reshuffle()  # spread the decoding over workers
                      | "ReadAndCheck" >> beam.ParDo(_OnThreads(functools.partial(
                          check_images, max_pixels=max_pixels)))
                      | "Route" >> beam.ParDo(_route).with_outputs("rejected", main="ok"))
            ok, rejected = routed.ok, routed.rejected
            train_counts = (ok
                            | "TrainOnly" >> beam.Filter(lambda item: item.file.from_train)
                            | "Species" >> beam.Map(lambda item: item.file.species)
                            | "Count" >> beam.combiners.Count.PerElement()
                            | "AsDict" >> beam.combiners.ToDict())
            groups = train_counts | "Groups" >> beam.Map(features.frequency_groups)
            by_split = ok | "BySplit" >> beam.Partition(
                lambda item, _: splits.index(item.file.split), len(splits))
            for split, selected in zip(splits, by_split):
                (selected
                 | f"Batch[{split}]" >> _batches()
                 | f"ReadAndExample[{split}]" >> beam.ParDo(
                     _OnThreads(functools.partial(written_examples, max_pixels=max_pixels)),
                     beam.pvalue.AsSingleton(groups))
                 | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                     os.path.join(examples.uri, f"Split-{split}", EXAMPLE_FILE_PREFIX),
                     coder=beam.coders.ProtoCoder(tf.train.Example),
                     compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED))
            # Small per-file records for the report, reconciled below.
            (ok | "WrittenRecord" >> beam.Map(ingest_report.written_record)
             | "WriteWritten" >> beam.io.WriteToText(
                 os.path.join(work_dir, ingest_report.WRITTEN_RECORDS), shard_name_template=""))
            (rejected | "RejectedRecord" >> beam.Map(ingest_report.rejected_record)
             | "WriteRejected" >> beam.io.WriteToText(
                 os.path.join(work_dir, ingest_report.REJECTED_RECORDS), shard_name_template=""))

        examples.split_names = artifact_utils.encode_split_names(splits)
        summary = ingest_report.write_report(
            report.uri, work_dir, files_read=len(files), empty_folders=empty_folders,
            validation=(f"held out from train: {held_out} files" if held_out
                        else "the data's own valid split"))
        fileio.rmtree(work_dir)
        check_records_on_disk(examples.uri, {split: sum(summary["counts"].get(split, {}).values())
                                             for split in splits})
        for key in ("files_read", "examples_written", "files_rejected", "files_reencoded"):
            report.set_int_custom_property(key, summary[key])
        report.set_int_custom_property("leaked_images", len(summary["leakage"]))
        for warning in summary["warnings"]:
            log.warning("ingestion: %s", warning)


def example_files(split_dir: str) -> List[str]:
    """The TFRecord files ingestion wrote in one Split-<name> folder."""
    return sorted(fileio.glob(os.path.join(split_dir, EXAMPLE_FILE_PREFIX + "-*")))


def count_records(split_dir: str) -> int:
    """Records in the TFRecord files of one Split-<name> folder."""
    return sum(tfrecords.count_records(path) for path in example_files(split_dir))


def check_records_on_disk(examples_uri: str, expected: Dict[str, int]) -> None:
    """Raises unless every split's files hold as many records as the report counts. The report
    is built from its own small sink, so this catches a runner that drops records while
    writing the examples (Beam's DirectRunner in multi_threading mode once did)."""
    try:
        found = {split: count_records(os.path.join(examples_uri, f"Split-{split}"))
                 for split in expected}
    except ValueError as err:
        raise RuntimeError(f"ingestion wrote a damaged examples file: {err}") from err
    lost = {split: (n, found[split]) for split, n in expected.items() if found[split] != n}
    if lost:
        raise RuntimeError("ingestion lost examples while writing them: " + "; ".join(
            f"split {split!r}: {n} written, {on_disk} on disk"
            for split, (n, on_disk) in sorted(lost.items())))


