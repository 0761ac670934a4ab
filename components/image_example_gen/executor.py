"""Executor of ImageExampleGen: image files -> tf.Examples, with every rejected file accounted for.

Beam does the reading and decoding (the heavy part); the report it leaves is small and is
reconciled here: files read = examples written + files rejected, or the component fails.
"""
import collections
import csv
import io
import json
import os
import re
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.image_example_gen import listing

EXAMPLES_KEY = "examples"
REPORT_KEY = "ingest_report"
SUMMARY_FILE = "summary.json"
REJECTED_FILE = "rejected.csv"


def check_image(image_file: listing.ImageFile):
    """Reads one file. Returns ("ok", (file, bytes)) or ("rejected", (file, reason)).

    The check decodes with the same TensorFlow op that Transform uses, so anything
    written here decodes there too.
    """
    if any(part.startswith(".") for part in image_file.filename.replace("\\", "/").split("/")):
        # .DS_Store, .thumbnails/...: listed and accounted for, never taken as an image.
        return "rejected", (image_file, "hidden file or folder")
    try:
        with fileio.open(image_file.path, "rb") as handle:
            data = handle.read()
    except Exception as err:  # unreadable: permissions, vanished, a folder named like a file
        return "rejected", (image_file, f"unreadable: {err}")
    if not data:
        return "rejected", (image_file, "empty file")
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        if image.shape[0] == 0 or image.shape[1] == 0:
            return "rejected", (image_file, "image has no pixels")
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
        # Drop TensorFlow's "{{function_node ...}}" prefix: the report is for people.
        message = re.sub(r"^\{\{.*?\}\}\s*", "", str(err).strip().split("\n")[0])
        message = message or type(err).__name__
        return "rejected", (image_file, f"not a decodable image: {message}")
    return "ok", (image_file, data)


def to_example(item, groups: Dict[str, List[str]]) -> tf.train.Example:
    image_file, data = item
    bytes_list = lambda values: tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    return tf.train.Example(features=tf.train.Features(feature={
        "image": bytes_list([data]),
        "species": bytes_list([image_file.species.encode()]),
        # A species absent from train has no group; the run stops on it before training.
        "frequency_group": bytes_list([g.encode() for g in groups.get(image_file.species, [])]),
        "filename": bytes_list([image_file.filename.encode()]),
    }))


class _Route(beam.DoFn):
    def process(self, image_file):
        status, payload = check_image(image_file)
        if status == "ok":
            yield payload
        else:
            yield beam.pvalue.TaggedOutput("rejected", payload)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes `examples` (Split-<name>/data_tfrecord-*.gz) and `ingest_report`."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        report = artifact_utils.get_single_instance(output_dict[REPORT_KEY])
        files = listing.list_dataset(exec_properties["input_base"],
                                     exec_properties.get("csv_index") or None)
        splits = sorted({f.split for f in files}, key=list(listing.SPLIT_FOLDERS.values()).index)
        work_dir = os.path.join(report.uri, "_beam")

        with self._make_beam_pipeline() as pipeline:
            routed = (pipeline
                      | "ListFiles" >> beam.Create(files)
                      | "Reshuffle" >> beam.Reshuffle()  # spread the decoding over workers
                      | "ReadAndCheck" >> beam.ParDo(_Route()).with_outputs("rejected", main="ok"))
            ok, rejected = routed.ok, routed.rejected
            train_counts = (ok
                            | "TrainOnly" >> beam.Filter(lambda item: item[0].split == "train")
                            | "Species" >> beam.Map(lambda item: item[0].species)
                            | "Count" >> beam.combiners.Count.PerElement()
                            | "AsDict" >> beam.combiners.ToDict())
            groups = train_counts | "Groups" >> beam.Map(listing.frequency_groups)
            for split in splits:
                (ok
                 | f"Select[{split}]" >> beam.Filter(lambda item, s=split: item[0].split == s)
                 | f"ToExample[{split}]" >> beam.Map(to_example,
                                                     groups=beam.pvalue.AsSingleton(groups))
                 | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                     os.path.join(examples.uri, f"Split-{split}", "data_tfrecord"),
                     file_name_suffix=".gz", coder=beam.coders.ProtoCoder(tf.train.Example)))
            # Small per-file records for the report, reconciled below.
            (ok | "WrittenRecord" >> beam.Map(lambda item: json.dumps(
                [item[0].split, item[0].species, item[0].filename, ""]))
             | "WriteWritten" >> beam.io.WriteToText(os.path.join(work_dir, "written"),
                                                     shard_name_template=""))
            (rejected | "RejectedRecord" >> beam.Map(lambda item: json.dumps(
                [item[0].split, item[0].species, item[0].filename, item[1]]))
             | "WriteRejected" >> beam.io.WriteToText(os.path.join(work_dir, "rejected"),
                                                      shard_name_template=""))

        examples.split_names = artifact_utils.encode_split_names(splits)
        summary = write_report(report.uri, work_dir, files_read=len(files))
        fileio.rmtree(work_dir)
        report.set_int_custom_property("files_read", summary["files_read"])
        report.set_int_custom_property("examples_written", summary["examples_written"])
        report.set_int_custom_property("files_rejected", summary["files_rejected"])


def _read_records(path: str) -> List[list]:
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_report(report_dir: str, work_dir: str, files_read: int) -> Dict[str, Any]:
    """Writes summary.json and rejected.csv; raises if any listed file is unaccounted for."""
    written = _read_records(os.path.join(work_dir, "written"))
    rejected = _read_records(os.path.join(work_dir, "rejected"))
    if len(written) + len(rejected) != files_read:
        raise RuntimeError(f"ingestion lost files: read {files_read}, wrote {len(written)}, "
                           f"rejected {len(rejected)}")
    counts = collections.defaultdict(collections.Counter)
    for split, species, _, _ in written:
        counts[split][species] += 1
    train_counts = dict(sorted(counts["train"].items()))
    summary = {
        "files_read": files_read,
        "examples_written": len(written),
        "files_rejected": len(rejected),
        "rejected_by_reason": dict(collections.Counter(r[3].split(":")[0] for r in rejected)),
        "counts": {split: dict(sorted(c.items())) for split, c in sorted(counts.items())},
        "frequency_groups": listing.frequency_groups(train_counts),
    }
    with fileio.open(os.path.join(report_dir, SUMMARY_FILE), "w") as handle:
        json.dump(summary, handle, indent=2, ensure_ascii=False)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["split", "species", "filename", "reason"])
    writer.writerows(sorted(rejected))
    with fileio.open(os.path.join(report_dir, REJECTED_FILE), "w") as handle:
        handle.write(buffer.getvalue())
    return summary


def load_summary(report_uri: str) -> Dict[str, Any]:
    with fileio.open(os.path.join(report_uri, SUMMARY_FILE), "r") as handle:
        return json.load(handle)
