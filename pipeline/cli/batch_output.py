"""Where `rarespecies predict --output` writes, a result at a time: JSON lines (.jsonl) or CSV
(.csv: path, label, then species and score for each rank). A rerun reads the paths already
written and skips them, so a batch run over a large folder resumes where it stopped."""
import csv
import json
import os
from typing import Optional, Set


def _kind(path: str) -> str:
    if path.endswith(".jsonl"):
        return "jsonl"
    if path.endswith(".csv"):
        return "csv"
    raise ValueError(f"--output {path}: use a .jsonl or .csv file")


def done_paths(path: str) -> Set[str]:
    """The image paths already in an output file (none when it does not exist)."""
    kind = _kind(path)
    if not os.path.exists(path):
        return set()
    with open(path, newline="", encoding="utf-8") as handle:
        text = handle.read()
    # A last line without its newline was cut short by an interruption: the Writer drops it,
    # so its file is classified again.
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    if kind == "jsonl":
        done = set()
        for line in lines:
            try:
                done.add(json.loads(line)["path"])
            except (ValueError, KeyError, TypeError):
                continue
        return done
    return {row[0] for row in list(csv.reader(lines))[1:] if row}


def _drop_partial_line(path: str) -> None:
    """A run stopped mid-write leaves a last line without its newline: cut it, so that the
    rerun's first result starts a line of its own (that file is classified again)."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


class Writer:
    """Appends results to `path` (nothing with None), flushed after each one."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self.handle = None

    def __enter__(self):
        if self.path:
            kind = _kind(self.path)
            _drop_partial_line(self.path)
            new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
            self.handle = open(self.path, "a", newline="", encoding="utf-8")
            self.kind = kind
            if kind == "csv" and new:
                csv.writer(self.handle).writerow(["path", "label", "species_1", "score_1",
                                                  "species_2", "score_2", "species_3",
                                                  "score_3"])
        return self

    def write(self, result: dict) -> None:
        if not self.handle:
            return
        if self.kind == "jsonl":
            self.handle.write(json.dumps(result) + "\n")
        else:
            row = [result["path"], result["label"]]
            for prediction in result["predictions"][:3]:
                row += [prediction["species"], f"{prediction['score']:.6f}"]
            csv.writer(self.handle).writerow(row)
        self.handle.flush()

    def __exit__(self, *exc):
        if self.handle:
            self.handle.close()
