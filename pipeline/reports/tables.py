"""The report's tables as text: Markdown, CSV and the terminal's, from a ReportData."""
import csv
import io
from typing import List

from pipeline.reports.gather import ReportData, models, species_rows
from pipeline.reports.rows import ROWS, fmt, group_examples, row_value


def metrics_rows(data: ReportData) -> List[List[str]]:
    names = models(data)
    candidate = data.tables["candidate"]
    out = []
    for key, label, unit in ROWS:
        examples = (group_examples(candidate, key)
                    if key not in ("f1", "calibration_error") else None)
        out.append([key, label, unit, "" if examples is None else str(examples)] +
                   [fmt(row_value(data.tables[m], key), unit) for m in names])
    return out


def metrics_csv(data: ReportData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "description", "unit", "examples"] + models(data))
    writer.writerows(metrics_rows(data))
    return buffer.getvalue()


def per_species_csv(data: ReportData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["species", "train_count", "test_count", "precision", "recall", "f1"]
    writer.writerow(columns)
    for row in species_rows(data):
        writer.writerow([row[c] if c in ("species", "train_count", "test_count")
                         else fmt(row[c]) for c in columns])
    return buffer.getvalue()


def markdown_table(data: ReportData) -> str:
    names = models(data)
    lines = ["| group | examples | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for key, label, unit, examples, *values in metrics_rows(data):
        unit_label = f"{label} ({unit})" if unit == "%" else label
        lines.append(f"| {unit_label} | {examples} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def console_table(data: ReportData) -> str:
    """The same rows for the terminal (printed at the end of `rarespecies run`)."""
    names = models(data)
    lines = [f"{'group':<18} {'examples':>8} " + " ".join(f"{m:>10}" for m in names)]
    for key, _, unit, examples, *values in metrics_rows(data):
        name = key + (" %" if unit == "%" else "")
        lines.append(f"{name:<18} {examples:>8} " + " ".join(f"{v:>10}" for v in values))
    return "\n".join(lines)


def validation_lines(data: ReportData) -> List[str]:
    v = data.validation or {}
    if not v:
        return ["No validation result found."]
    lines = []
    if v.get("rubber_stamp") or "baseline" not in models(data):
        lines.append("No baseline (no earlier blessed model): the changes against it were not "
                     "checked, only the overall accuracy floor.")
    lines.append("Validation passed." if v.get("ok") else "Validation FAILED:")
    lines += [f"- {failure}" for failure in v.get("failures", [])]
    return lines
