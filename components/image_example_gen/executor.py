"""Executor of ImageExampleGen: image files -> tf.Examples, with every rejected file accounted for.

Beam does the reading and decoding (the heavy part); the report it leaves is small and is
reconciled here: files read = examples written + files rejected, and the records in the
written files = examples written, or the component fails.

Images are written as read from disk, except (each listed in notes.csv with the reason):
  * a JPEG over `max_pixels` (default MAX_PIXELS) is downscaled while it is decoded (PIL's
    draft(): 1/2, 1/4 or 1/8 scale in the JPEG decoder, so the full-size pixels never exist in
    memory) and re-encoded, so that neither ingestion nor Transform decodes a huge image;
    other formats over the limit are rejected, as is anything over PIL's decompression-bomb
    limit (~179 MP);
  * an image that PIL reads but TensorFlow cannot decode (TIFF, WebP, ...) is re-encoded as PNG,
    since Transform decodes with TensorFlow.
The image size is read from the file header before any pixel is decoded.
Every file's sha256 (of its bytes on disk) is recorded: the same image in two splits is
train/test leakage, listed in duplicates.csv and summary.json for the validation gate.
"""
import collections
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import warnings
from typing import Any, Dict, List, Optional, Tuple

import apache_beam as beam
import tensorflow as tf
from PIL import Image
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.image_example_gen import listing

EXAMPLES_KEY = "examples"
REPORT_KEY = "ingest_report"
SUMMARY_FILE = "summary.json"
REJECTED_FILE = "rejected.csv"
NOTES_FILE = "notes.csv"            # written files whose bytes are not the file's (re-encoded)
DUPLICATES_FILE = "duplicates.csv"  # files with the same content (sha256) as another file

# Largest image written as is: 25 megapixels (6000x4000, a 24 MP camera frame, passes). Above
# it a JPEG is downscaled at decode time; decoding 25 MP costs ~75 MB (uint8 RGB) here and in
# Transform. The model sees 224 px a side at most, so nothing it could use is lost.
MAX_PIXELS = 25_000_000
REENCODED = "re-encoded"


@dataclasses.dataclass(frozen=True)
class Checked:
    """A file that will be written: `data` is what goes into the tf.Example."""
    file: listing.ImageFile
    data: bytes
    sha256: str     # of the bytes on disk (before any re-encoding)
    note: str = ""  # why `data` differs from the file's bytes ("re-encoded: ..."), or ""


def _tf_error(err: Exception) -> str:
    # Drop TensorFlow's "{{function_node ...}}" prefix: the report is for people.
    message = re.sub(r"^\{\{.*?\}\}\s*", "", str(err).strip().split("\n")[0])
    return message or type(err).__name__


def _tf_decodes(data: bytes) -> Optional[str]:
    """None if TensorFlow decodes `data` as Transform will (the same op); else the error."""
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
        return _tf_error(err)
    if image.shape[0] == 0 or image.shape[1] == 0:
        return "image has no pixels"
    return None


def _open_header(data: bytes):
    """PIL's lazy open: reads the header (format, size, mode), decodes no pixel. Returns
    (image or None, error or None); PIL's decompression-bomb error is an error."""
    try:
        with warnings.catch_warnings():
            # Images between PIL's warning and error limits are handled by max_pixels below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data)), None
    except Image.DecompressionBombError as err:
        return None, f"too large: {err}"
    except Exception:  # noqa: BLE001 - not an image PIL knows; TensorFlow decides
        return None, None


def _encode(image, fmt: str) -> bytes:
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # alpha and palettes: TF decodes them to RGB as well
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _megapixels(width: int, height: int) -> str:
    return f"{width}x{height} ({width * height / 1e6:.1f} MP)"


def _downscale(image, max_pixels: int) -> Tuple[Optional[bytes], str]:
    """An over-size image: (JPEG bytes downscaled to at most max_pixels, note) or
    (None, rejection reason)."""
    width, height = image.size
    size = f"{_megapixels(width, height)} {image.format or 'image'}"
    limit = f"the {max_pixels / 1e6:.1f} MP limit"
    if image.format != "JPEG":
        return None, (f"too large: {size} is over {limit}; only JPEGs are downscaled at "
                      f"ingestion (decoding this one in full would take "
                      f"{width * height * 4 / 2**20:.0f} MB)")
    for scale in (2, 4, 8):  # the scales libjpeg decodes at directly
        target = (-(-width // scale), -(-height // scale))
        if target[0] * target[1] <= max_pixels:
            break
    else:
        return None, f"too large: {size} is over {limit} even at 1/8 scale"
    try:
        image.draft(image.mode if image.mode in ("L", "CMYK") else "RGB", target)
        image.load()
    except Exception as err:  # noqa: BLE001 - truncated or corrupt: PIL says why
        return None, f"not a decodable image: {err}"
    return (_encode(image, "JPEG"),
            f"{REENCODED}: downscaled from {width}x{height} to {image.size[0]}x{image.size[1]} "
            f"(over {limit}), JPEG quality 95")


def check_image(image_file: listing.ImageFile, max_pixels: int = MAX_PIXELS):
    """Reads one file. Returns ("ok", Checked) or ("rejected", (file, reason)).

    The check decodes with the same TensorFlow op that Transform uses, so anything
    written here decodes there too. The size comes from the header first: no image over
    `max_pixels` is decoded in full.
    """
    if listing.is_hidden(image_file.filename):
        # .DS_Store, .thumbnails/...: listed and accounted for, never taken as an image.
        return "rejected", (image_file, "hidden file or folder")
    try:
        with fileio.open(image_file.path, "rb") as handle:
            data = handle.read()
    except Exception as err:  # unreadable: permissions, vanished, a folder named like a file
        return "rejected", (image_file, f"unreadable: {err}")
    if not data:
        return "rejected", (image_file, "empty file")
    sha256 = hashlib.sha256(data).hexdigest()

    header, error = _open_header(data)
    if error:
        return "rejected", (image_file, error)
    if header is not None and header.size[0] * header.size[1] > max_pixels:
        smaller, note = _downscale(header, max_pixels)
        if smaller is None:
            return "rejected", (image_file, note)
        error = _tf_decodes(smaller)
        if error:
            return "rejected", (image_file, f"not a decodable image: {error}")
        return "ok", Checked(image_file, smaller, sha256, note)

    error = _tf_decodes(data)
    if error is None:
        return "ok", Checked(image_file, data, sha256)
    if header is not None and error != "image has no pixels":
        # A valid image TensorFlow cannot decode (TIFF, WebP, ...): PIL decodes it (within
        # max_pixels) and it is written as PNG, which Transform decodes.
        try:
            header.load()
            converted = _encode(header, "PNG")
        except Exception:  # noqa: BLE001 - PIL cannot read it either: TF's reason stands
            converted = None
        if converted is not None and _tf_decodes(converted) is None:
            return "ok", Checked(image_file, converted, sha256,
                                 f"{REENCODED}: {header.format} {header.mode} as PNG "
                                 f"(TensorFlow cannot decode it: {error})")
    if error == "image has no pixels":
        return "rejected", (image_file, error)
    return "rejected", (image_file, f"not a decodable image: {error}")


def to_example(checked: Checked, groups: Dict[str, List[str]]) -> tf.train.Example:
    image_file, data = checked.file, checked.data
    bytes_list = lambda values: tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    return tf.train.Example(features=tf.train.Features(feature={
        "image": bytes_list([data]),
        "species": bytes_list([image_file.species.encode()]),
        # A species absent from train has no group; the run stops on it before training.
        "frequency_group": bytes_list([g.encode() for g in groups.get(image_file.species, [])]),
        "filename": bytes_list([image_file.filename.encode()]),
    }))


class _Route(beam.DoFn):
    def __init__(self, max_pixels: int):
        super().__init__()
        self._max_pixels = max_pixels

    def process(self, image_file):
        status, payload = check_image(image_file, self._max_pixels)
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
        if "eval" not in splits:
            # Evaluation and the train/eval drift check need it: say so here, at the source.
            raise ValueError(f"no test images under {exec_properties['input_base']!r}: expected "
                             "test/<Species>/ folders (or 'test' rows in the CSV index)")
        work_dir = os.path.join(report.uri, "_beam")
        max_pixels = int(exec_properties.get("max_pixels") or MAX_PIXELS)
        empty_folders = ([] if exec_properties.get("csv_index") else
                         listing.empty_species_folders(exec_properties["input_base"], files))

        with self._make_beam_pipeline() as pipeline:
            routed = (pipeline
                      | "ListFiles" >> beam.Create(files)
                      | "Reshuffle" >> beam.Reshuffle()  # spread the decoding over workers
                      | "ReadAndCheck" >> beam.ParDo(_Route(max_pixels)).with_outputs("rejected", main="ok"))
            ok, rejected = routed.ok, routed.rejected
            train_counts = (ok
                            | "TrainOnly" >> beam.Filter(lambda item: item.file.split == "train")
                            | "Species" >> beam.Map(lambda item: item.file.species)
                            | "Count" >> beam.combiners.Count.PerElement()
                            | "AsDict" >> beam.combiners.ToDict())
            groups = train_counts | "Groups" >> beam.Map(listing.frequency_groups)
            for split in splits:
                (ok
                 | f"Select[{split}]" >> beam.Filter(lambda item, s=split: item.file.split == s)
                 | f"ToExample[{split}]" >> beam.Map(to_example,
                                                     groups=beam.pvalue.AsSingleton(groups))
                 | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                     os.path.join(examples.uri, f"Split-{split}", "data_tfrecord"),
                     file_name_suffix=".gz", coder=beam.coders.ProtoCoder(tf.train.Example)))
            # Small per-file records for the report, reconciled below.
            (ok | "WrittenRecord" >> beam.Map(lambda item: json.dumps(
                [item.file.split, item.file.species, item.file.filename, item.note,
                 item.sha256]))
             | "WriteWritten" >> beam.io.WriteToText(os.path.join(work_dir, "written"),
                                                     shard_name_template=""))
            (rejected | "RejectedRecord" >> beam.Map(lambda item: json.dumps(
                [item[0].split, item[0].species, item[0].filename, item[1]]))
             | "WriteRejected" >> beam.io.WriteToText(os.path.join(work_dir, "rejected"),
                                                      shard_name_template=""))

        examples.split_names = artifact_utils.encode_split_names(splits)
        summary = write_report(report.uri, work_dir, files_read=len(files),
                               empty_folders=empty_folders)
        fileio.rmtree(work_dir)
        check_records_on_disk(examples.uri, {split: sum(summary["counts"].get(split, {}).values())
                                             for split in splits})
        for key in ("files_read", "examples_written", "files_rejected", "files_reencoded"):
            report.set_int_custom_property(key, summary[key])
        report.set_int_custom_property("leaked_images", len(summary["leakage"]))
        for warning in summary["warnings"]:
            logging.warning("ingestion: %s", warning)


def count_records(split_dir: str) -> int:
    """Records in the gzipped TFRecord files of one Split-<name> folder."""
    files = fileio.glob(os.path.join(split_dir, "*.gz"))
    if not files:
        return 0
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def check_records_on_disk(examples_uri: str, expected: Dict[str, int]) -> None:
    """Raises unless every split's files hold as many records as the report counts. The report
    is built from its own small sink, so this catches a runner that drops records while
    writing the examples (Beam's DirectRunner in multi_threading mode did, 3 of 677)."""
    found = {split: count_records(os.path.join(examples_uri, f"Split-{split}"))
             for split in expected}
    lost = {split: (n, found[split]) for split, n in expected.items() if found[split] != n}
    if lost:
        raise RuntimeError("ingestion lost examples while writing them: " + "; ".join(
            f"split {split!r}: {n} written, {on_disk} on disk"
            for split, (n, on_disk) in sorted(lost.items())))


def _read_records(path: str) -> List[list]:
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def find_duplicates(written: List[list]) -> Tuple[List[dict], List[dict]]:
    """Groups of written files with the same sha256: (across splits, within one split).
    Each group: {"sha256", "splits", "species", "files": [filename, ...]}."""
    by_hash = collections.defaultdict(list)
    for split, species, filename, _, sha256 in written:
        by_hash[sha256].append((split, species, filename))
    across, within = [], []
    for sha256, members in sorted(by_hash.items(), key=lambda kv: sorted(kv[1])):
        if len(members) < 2:
            continue
        members.sort()
        group = {"sha256": sha256, "splits": sorted({m[0] for m in members}),
                 "species": sorted({m[1] for m in members}), "files": [m[2] for m in members]}
        (across if len(group["splits"]) > 1 else within).append(group)
    return across, within


def _write_csv(path: str, header: List[str], rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    with fileio.open(path, "w") as handle:
        handle.write(buffer.getvalue())


def write_report(report_dir: str, work_dir: str, files_read: int,
                 empty_folders: Optional[List[str]] = None) -> Dict[str, Any]:
    """Writes summary.json, rejected.csv, notes.csv and duplicates.csv; raises if any listed
    file is unaccounted for."""
    written = _read_records(os.path.join(work_dir, "written"))
    rejected = _read_records(os.path.join(work_dir, "rejected"))
    if len(written) + len(rejected) != files_read:
        raise RuntimeError(f"ingestion lost files: read {files_read}, wrote {len(written)}, "
                           f"rejected {len(rejected)}")
    counts = collections.defaultdict(collections.Counter)
    for split, species, *_ in written:
        counts[split][species] += 1
    train_counts = dict(sorted(counts["train"].items()))
    notes = sorted(r[:4] for r in written if r[3])
    across, within = find_duplicates(written)

    warnings_ = [f"species folder {folder}/ is empty: the species is absent from that split"
                 for folder in empty_folders or []]
    read = collections.defaultdict(collections.Counter)
    for split, species, *_ in written + rejected:
        read[split][species] += 1
    for split, per_species in sorted(read.items()):
        for species, n in sorted(per_species.items()):
            if not counts[split][species]:
                warnings_.append(f"all {n} file(s) of species {species!r} in split {split!r} "
                                 f"were rejected (rejected.csv): the species is absent there")
    for group in within:
        warnings_.append(f"the same image ({group['sha256'][:12]}) is in split "
                         f"{group['splits'][0]!r} {len(group['files'])} times: "
                         + ", ".join(group["files"]))
    if any(len(g["species"]) > 1 for g in across + within):
        warnings_.append("some identical images carry different species labels "
                         "(duplicates.csv)")

    summary = {
        "files_read": files_read,
        "examples_written": len(written),
        "files_rejected": len(rejected),
        "files_reencoded": sum(n[3].startswith(REENCODED) for n in notes),
        "rejected_by_reason": dict(collections.Counter(r[3].split(":")[0] for r in rejected)),
        "counts": {split: dict(sorted(c.items())) for split, c in sorted(counts.items()) if c},
        "frequency_groups": listing.frequency_groups(train_counts),
        # The same image (by sha256 of the file) in more than one split: train/test leakage.
        "leakage": across,
        "duplicates_within_split": within,
        "empty_species_folders": list(empty_folders or []),
        "warnings": warnings_,
    }
    with fileio.open(os.path.join(report_dir, SUMMARY_FILE), "w") as handle:
        json.dump(summary, handle, indent=2, ensure_ascii=False)
    _write_csv(os.path.join(report_dir, REJECTED_FILE), ["split", "species", "filename", "reason"],
               sorted(rejected))
    _write_csv(os.path.join(report_dir, NOTES_FILE), ["split", "species", "filename", "note"],
               notes)
    split_of = {}
    for split, species, filename, _, _ in written:
        split_of[filename] = (split, species)
    _write_csv(os.path.join(report_dir, DUPLICATES_FILE),
               ["sha256", "kind", "split", "species", "filename"],
               [(g["sha256"], kind, *split_of[f], f)
                for kind, groups in (("across splits", across), ("within split", within))
                for g in groups for f in g["files"]])
    return summary


def load_summary(report_uri: str) -> Dict[str, Any]:
    with fileio.open(os.path.join(report_uri, SUMMARY_FILE), "r") as handle:
        return json.load(handle)
