"""The ingest report's files, in one place: what ImageExampleGen writes and what the validation
gate and the reports read (without importing the Beam executor).

  summary.json     counts per split and species, frequency groups, leakage, warnings
  rejected.csv     each rejected file and why
  notes.csv        files written re-encoded, and why
  duplicates.csv   files with identical content (sha256), within and across splits

While Beam runs, the executor writes one small JSON record per file (`written_record`,
`rejected_record`) into a work folder; `write_report` reconciles them with the listing:
files read = examples written + files rejected, or it raises.
"""
import collections
import csv
import io
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from tfx.dsl.io import fileio

from components.image_example_gen.image_check import REENCODED
from schema.features import TRAIN, frequency_groups

INGEST_REPORT_TYPE = "rarespecies.IngestReport"  # the artifact's type name in ML Metadata
SUMMARY_FILE = "summary.json"
REJECTED_FILE = "rejected.csv"
NOTES_FILE = "notes.csv"            # written files whose bytes are not the file's (re-encoded)
DUPLICATES_FILE = "duplicates.csv"  # files with the same content (sha256) as another file
WRITTEN_RECORDS = "written"         # work-folder files of per-file records
REJECTED_RECORDS = "rejected"


def written_record(checked) -> str:
    """The work record of a written file (an image_check.Checked)."""
    f = checked.file
    return json.dumps([f.split, f.species, f.filename, checked.note, checked.sha256,
                       f.held_out])


def rejected_record(rejected) -> str:
    """The work record of a rejected file: (listing.ImageFile, reason)."""
    f, reason = rejected
    return json.dumps([f.split, f.species, f.filename, reason])


def _read_records(path: str) -> List[list]:
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def find_duplicates(written: List[list]) -> Tuple[List[dict], List[dict]]:
    """Groups of written files with the same sha256: (across splits, within one split).
    Each group: {"sha256", "splits", "species", "files": [filename, ...]}."""
    by_hash = collections.defaultdict(list)
    for split, species, filename, _, sha256, *_ in written:
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
                 empty_folders: Optional[List[str]] = None,
                 validation: str = "") -> Dict[str, Any]:
    """Writes summary.json, rejected.csv, notes.csv and duplicates.csv; raises if any listed
    file is unaccounted for."""
    written = _read_records(os.path.join(work_dir, WRITTEN_RECORDS))
    rejected = _read_records(os.path.join(work_dir, REJECTED_RECORDS))
    if len(written) + len(rejected) != files_read:
        raise RuntimeError(f"ingestion lost files: read {files_read}, wrote {len(written)}, "
                           f"rejected {len(rejected)}")
    counts = collections.defaultdict(collections.Counter)
    for split, species, *_ in written:
        counts[split][species] += 1
    # The frequency groups count the data's train split: train files held out for validation
    # too (each species keeps its rank and group whatever share is held out).
    train_counts = collections.Counter(counts[TRAIN])
    for split, species, *rest in written:
        if split != TRAIN and len(rest) > 3 and rest[3]:
            train_counts[species] += 1
    train_counts = dict(sorted(train_counts.items()))
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
        "frequency_groups": frequency_groups(train_counts),
        "validation_split": validation,  # where the valid split came from
        "group_counts": train_counts,     # what the frequency groups were computed from
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
    for split, species, filename, *_ in written:
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
