"""The evaluation report of a run: Table II by species frequency group, per-species scores,
figures and a model card, from the Evaluator's output (read with TFMA's own loader,
metrics_table.py) and ML Metadata (mlmd.py).

`gather(config)` (gather.py) collects everything into plain data; `write(data, folder)` writes
the files and needs nothing else (tests fabricate `data`):

  metrics.md, metrics.csv   Table II's rows (bottom_2 ... total accuracy) then balanced accuracy,
                            many, medium, few, top-3 accuracy and calibration error; a column per
                            model evaluated (candidate, and baseline when there was one)
  per_species.csv           species, train count, test count, precision, recall, F1
  accuracy_by_group.png, confusion_matrix.png, recall_vs_train_count.png   (figures.py)
  model_card.md             (model_card.py) also written next to a pushed model, in
                            <version>/assets.extra/ (TF Serving does not read that folder's
                            other files)
"""
import os
from typing import Dict, Optional, Tuple

from pipeline.reports import figures
from pipeline.reports.gather import ReportData, gather, models, species_rows
from pipeline.reports.model_card import MODEL_CARD, model_card
from pipeline.reports.rows import fmt
from pipeline.reports.tables import (markdown_table, metrics_csv, per_species_csv,
                                     validation_lines)
from schema.paths import is_remote

__all__ = ["ReportData", "gather", "write", "write_model_card_next_to_model", "write_report"]


def metrics_markdown(data: ReportData) -> str:
    names = models(data)
    rows = species_rows(data)
    outcome = ("blessed and pushed to `%s`" % data.pushed_destination if data.pushed
               else "blessed, not pushed" if data.blessed else "NOT blessed, not pushed")
    parts = [
        f"# Evaluation report: {data.pipeline_name}",
        "",
        f"Candidate model: {outcome}.",
        f"Evaluation: `{data.evaluation_uri}`" if data.evaluation_uri else "",
        "",
        "## Accuracy by species frequency group (test split)",
        "",
        "Rows in the order of the paper's Table II, then the long-tail groups. Accuracy in %, "
        "F1 and calibration error in 0-1. F1 is the standard F1 (with the factor 2), "
        "macro-averaged over species. Groups come from the train split's counts and overlap. "
        + ("The baseline is the latest blessed model, evaluated on the same examples."
           if "baseline" in names else "There was no baseline (no earlier blessed model)."),
        "",
        markdown_table(data),
        "",
        "## Blessing",
        "",
        *validation_lines(data),
        "",
        "## Per species (candidate)",
        "",
        "Most train images first. Full table: `per_species.csv`.",
        "",
        "| species | train | test | precision | recall | F1 |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {r['species']} | {r['train_count']} | {r['test_count']} | {fmt(r['precision'])} "
          f"| {fmt(r['recall'])} | {fmt(r['f1'])} |" for r in rows],
        "",
        "## Figures",
        "",
        "![accuracy by group](accuracy_by_group.png)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![recall against train count](recall_vs_train_count.png)",
        "",
    ]
    return "\n".join(parts)


def write(data: ReportData, folder: str) -> Dict[str, str]:
    """Writes every report file into folder; returns {file name: path}."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for name, text in (("metrics.md", metrics_markdown(data)), ("metrics.csv", metrics_csv(data)),
                       ("per_species.csv", per_species_csv(data)), (MODEL_CARD, model_card(data))):
        written[name] = os.path.join(folder, name)
        with open(written[name], "w", encoding="utf-8") as handle:
            handle.write(text)
    for name, plot in figures.FIGURES.items():
        written[name] = os.path.join(folder, name)
        plot(data, written[name])
    return written


def write_model_card_next_to_model(data: ReportData) -> Optional[str]:
    """<pushed version>/assets.extra/model_card.md, when this candidate was pushed."""
    if not (data.pushed and data.pushed_destination):
        return None
    folder = os.path.join(data.pushed_destination, "assets.extra")
    path = os.path.join(folder, MODEL_CARD)
    if is_remote(folder):  # gs://... (Kubeflow runs): TFX's filesystem layer
        from tfx.dsl.io import fileio
        fileio.makedirs(folder)
        with fileio.open(path, "w") as handle:
            handle.write(model_card(data))
    else:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(model_card(data))
    return path


def write_report(config) -> Tuple[ReportData, Dict[str, str], Optional[str]]:
    """The report of config's newest evaluation: (data, {file: path} written into
    config.report_dir, the model card written next to the pushed model or None)."""
    data = gather(config)
    written = write(data, config.report_dir)
    return data, written, write_model_card_next_to_model(data)
