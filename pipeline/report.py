"""The evaluation report: Table II by species frequency group, per-species scores, figures and
a model card, from the Evaluator's output (read with TFMA's own loader, pipeline.metrics_table).

`gather(config)` collects everything from ML Metadata and the artifacts into plain data;
`write(data, folder)` writes the files and needs nothing else (tests fabricate `data`):

  metrics.md, metrics.csv   Table II's rows (bottom_2 ... total accuracy) then balanced accuracy,
                            many, medium, few, top-3 accuracy and calibration error; a column per
                            model evaluated (candidate, and baseline when there was one)
  per_species.csv           species, train count, test count, precision, recall, F1
  accuracy_by_group.png, confusion_matrix.png, recall_vs_train_count.png
  model_card.md             also written next to a pushed model, in <version>/assets.extra/
                            (TF Serving does not read that folder's other files)
"""
import csv
import dataclasses
import io
import json
import math
import os
from typing import Dict, List, Optional

from pipeline.metrics_table import GROUP_ORDER

# (key, label, unit): Table II's order, then the long-tail groups and the extra metrics.
# Accuracies in % and F1 in 0-1, as in the paper's Table II.
ROWS = (
    ("bottom_2", "2 rarest species (bottom_2)", "%"),
    ("bottom_5", "5 rarest species (bottom_5)", "%"),
    ("bottom_10", "10 rarest species (bottom_10)", "%"),
    ("top_5", "5 most common species (top_5)", "%"),
    ("top_10", "10 most common species (top_10)", "%"),
    ("f1", "F1 (macro over species)", "0-1"),
    ("accuracy", "total accuracy", "%"),
    ("balanced_accuracy", "balanced accuracy (mean per-species recall)", "%"),
    ("many", "many: >100 train images", "%"),
    ("medium", "medium: 20-100 train images", "%"),
    ("few", "few: <20 train images", "%"),
    ("top_3_accuracy", "top-3 accuracy", "%"),
    ("calibration_error", "expected calibration error (15 bins)", "0-1"),
)
OVERALL_ROWS = {"f1": "macro_f1", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                "top_3_accuracy": "top_3_accuracy", "calibration_error": "calibration_error"}
FIGURES = ("accuracy_by_group.png", "confusion_matrix.png", "recall_vs_train_count.png")
MODEL_CARD = "model_card.md"


@dataclasses.dataclass
class ReportData:
    pipeline_name: str
    # metrics_table.load() of each model evaluated: "candidate", and "baseline" if any.
    tables: Dict[str, Dict]
    # The candidate's species in label-id order (its Transform vocabulary).
    species: List[str]
    train_counts: Dict[str, int]
    test_counts: Dict[str, int] = dataclasses.field(default_factory=dict)
    evaluation_uri: str = ""
    validation: Dict = dataclasses.field(default_factory=dict)  # ok, failures, rubber_stamp
    blessed: bool = False
    pushed: bool = False
    pushed_destination: Optional[str] = None
    model_name: str = ""
    training: Dict = dataclasses.field(default_factory=dict)   # the Trainer's custom_config
    data_root: str = ""
    files_rejected: int = 0


# ---------------------------------------------------------------------------------------------
# Numbers

def row_value(table: Optional[Dict], key: str) -> Optional[float]:
    """A row's value for one model, in the row's unit (None where the slice does not exist)."""
    if not table:
        return None
    if key in OVERALL_ROWS:
        value = table.get("overall", {}).get(OVERALL_ROWS[key])
    else:
        value = table.get("frequency_group", {}).get(key, {}).get("accuracy")
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    unit = next(u for k, _, u in ROWS if k == key)
    return 100.0 * value if unit == "%" else float(value)


def group_examples(table: Dict, key: str) -> Optional[int]:
    values = (table.get("overall", {}) if key in OVERALL_ROWS
              else table.get("frequency_group", {}).get(key, {}))
    count = values.get("example_count")
    return None if count is None else int(count)


def models(data: ReportData) -> List[str]:
    return [m for m in ("candidate", "baseline") if data.tables.get(m)]


def species_rows(data: ReportData) -> List[Dict]:
    """One row per species, most train images first: counts and the candidate's scores."""
    table = data.tables["candidate"]
    per_class = table.get("per_class", {})
    evaluated = table.get("species", {})
    rows = []
    for class_id, name in enumerate(data.species):
        scores = per_class.get(class_id, {})
        count = evaluated.get(name, {}).get("example_count", data.test_counts.get(name, 0))
        rows.append(dict(species=name, train_count=int(data.train_counts.get(name, 0)),
                         test_count=int(count or 0), precision=scores.get("precision"),
                         recall=scores.get("recall"), f1=scores.get("f1")))
    return sorted(rows, key=lambda r: (-r["train_count"], r["species"]))


def _fmt(value, unit="0-1") -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if unit == "%" else f"{value:.3f}"


# ---------------------------------------------------------------------------------------------
# Files

def metrics_rows(data: ReportData) -> List[List[str]]:
    names = models(data)
    candidate = data.tables["candidate"]
    out = []
    for key, label, unit in ROWS:
        examples = group_examples(candidate, key) if key not in ("f1", "calibration_error") else None
        out.append([key, label, unit, "" if examples is None else str(examples)] +
                   [_fmt(row_value(data.tables[m], key), unit) for m in names])
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
                         else _fmt(row[c]) for c in columns])
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
        *[f"| {r['species']} | {r['train_count']} | {r['test_count']} | {_fmt(r['precision'])} "
          f"| {_fmt(r['recall'])} | {_fmt(r['f1'])} |" for r in rows],
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


def model_card(data: ReportData) -> str:
    rows = species_rows(data)
    t = data.training
    candidate = data.tables["candidate"]
    n_train = sum(data.train_counts.values())
    n_test = sum(r["test_count"] for r in rows)
    rarest = sorted(rows, key=lambda r: (r["train_count"], r["species"]))[:5]
    synthetic = "demo" in os.path.basename(os.path.normpath(data.data_root or "")).lower()
    few = [r for r in rows if r["train_count"] < 20]
    accuracy = row_value(candidate, "accuracy")
    bottom = row_value(candidate, "bottom_5")
    top = row_value(candidate, "top_5")
    ece = row_value(candidate, "calibration_error")
    version = (os.path.basename(os.path.normpath(data.pushed_destination))
               if data.pushed and data.pushed_destination else "not pushed")

    def setting(key, default="?"):
        return t.get(key, default)

    loss = setting("loss")
    loss_parameters = {"sigmoid_focal": ("alpha", "gamma"), "softmax_focal": ("alpha", "gamma"),
                       "class_balanced_focal": ("beta", "gamma"), "logit_adjusted": ("tau",)}
    loss_text = str(loss) + "".join(
        f" {k} {setting(k)}" for k in loss_parameters.get(loss, ()))

    limits = [
        "- **Rare species.** The species with the fewest training images are "
        + ", ".join(f"{r['species']} ({r['train_count']} train, recall "
                    f"{_fmt(r['recall']) or 'n/a'})" for r in rarest)
        + ". Expect these to be missed far more often than common species"
        + (f" (5 rarest: {bottom:.1f}% vs 5 most common: {top:.1f}%)."
           if bottom is not None and top is not None else "."),
        f"- **Small test sets.** {len(few)} species have fewer than 20 training images, and "
        f"the two rarest have {' and '.join(str(r['test_count']) for r in rarest[:2])} test "
        "images: their accuracies move in large steps and carry wide uncertainty.",
        "- **Closed set.** The model always answers with one of the species below; an animal "
        "of another species (or an empty frame) gets the most similar known label.",
    ]
    if ece is not None:
        limits.append(f"- **Calibration.** Expected calibration error {ece:.3f} (15 bins): the "
                      "top score differs from the observed accuracy by that much on average; "
                      "treat scores as a ranking rather than as probabilities.")
    if synthetic:
        limits.append("- **Synthetic data.** Trained and evaluated on the synthetic demo data; "
                      "these numbers say nothing about real photographs.")
    if str(setting("weights", "none")) in ("none", ""):
        limits.append("- **No pre-training.** The backbone started from random weights.")

    return "\n".join([
        f"# Model card: {data.model_name or data.pipeline_name} (version {version})",
        "",
        "## Model",
        "",
        "MobileNetV2 image classifier with Schneider's head (dense 1024-1024-512, softmax over "
        f"{len(data.species)} species), trained by the TFX pipeline `{data.pipeline_name}`.",
        "",
        f"- loss: {loss_text}; post-hoc logit adjustment tau {setting('posthoc_tau', 0.0)}",
        f"- input: {setting('image_size')} px; backbone weights: {setting('weights')}, "
        f"{setting('backbone')}; {setting('epochs')} epochs, batch {setting('batch_size')}, "
        f"learning rate {setting('learning_rate')}, seed {setting('seed')}",
        "- serving: `serving_default(image_bytes)` -> `scores`, `classes` (species, best "
        "first); `serving_examples(examples)` for tf.Examples",
        "",
        "## Data",
        "",
        f"{n_train} training and {n_test} test images of {len(data.species)} species"
        + (f" from `{data.data_root}`" if data.data_root else "")
        + (f" (files rejected at ingestion: {data.files_rejected})" if data.files_rejected
           else "")
        + ".",
        "",
        "| species | train | test | recall |",
        "|---|---:|---:|---:|",
        *[f"| {r['species']} | {r['train_count']} | {r['test_count']} | {_fmt(r['recall'])} |"
          for r in rows],
        "",
        "## Results by species frequency group (test split)",
        "",
        f"Overall accuracy {accuracy:.1f}%." if accuracy is not None else "",
        "",
        markdown_table(data),
        "",
        *validation_lines(data),
        "",
        "## Intended use",
        "",
        "Suggesting species labels for wildlife photographs (camera traps, bird photos) of the "
        "species listed above, to speed up human labelling: a person reviews the suggestions, "
        "above all for rare species. Not for decisions without review (e.g. counts for "
        "conservation status), and not for species outside the list.",
        "",
        "## Known limits",
        "",
        *limits,
        "",
    ])


# ---------------------------------------------------------------------------------------------
# Figures (matplotlib, Agg)

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_accuracy_by_group(data: ReportData, path: str) -> None:
    import numpy as np
    plt = _plt()
    keys = list(GROUP_ORDER) + ["accuracy", "balanced_accuracy"]
    labels = {"accuracy": "overall", "balanced_accuracy": "balanced"}
    candidate = data.tables["candidate"]
    keys = [k for k in keys if row_value(candidate, k) is not None]
    names = models(data)
    x = np.arange(len(keys))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(keys) + 2), 4.5))
    for i, name in enumerate(names):
        values = [row_value(data.tables[name], k) for k in keys]
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width,
                      [v if v is not None else 0 for v in values], width, label=name,
                      color=("tab:blue", "tab:gray")[i])
        for bar, value in zip(bars, values):
            if value is not None:
                ax.annotate(f"{value:.0f}", (bar.get_x() + bar.get_width() / 2, value),
                            ha="center", va="bottom", fontsize=8)
    ticks = []
    for k in keys:
        n = group_examples(candidate, k)
        ticks.append(f"{labels.get(k, k)}\nn={n}" if n is not None else labels.get(k, k))
    ax.set_xticks(x, ticks, fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{data.pipeline_name}: test accuracy by species frequency group")
    if len(names) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion_matrix(data: ReportData, path: str) -> None:
    """Rows: true species, columns: predicted, both sorted by train count (most first); colour
    is the row's share (recall on the diagonal), numbers are counts."""
    import numpy as np
    plt = _plt()
    order = [data.species.index(r["species"]) for r in species_rows(data)]
    position = {class_id: i for i, class_id in enumerate(order)}
    n = len(order)
    counts = np.zeros((n, n))
    for (actual, predicted), count in data.tables["candidate"].get("confusion_matrix",
                                                                   {}).items():
        if actual in position and predicted in position:
            counts[position[actual], position[predicted]] += count
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5, 0.42 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    names = [f"{data.species[c]} ({int(data.train_counts.get(data.species[c], 0))})"
             for c in order]
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted species")
    ax.set_ylabel("true species (train images)")
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, f"{counts[i, j]:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true species' images")
    ax.set_title("Confusion matrix (test), species by train count")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_recall_vs_train_count(data: ReportData, path: str) -> None:
    """One point per species; species at the same point share one label."""
    plt = _plt()
    rows = [r for r in species_rows(data) if r["recall"] is not None and r["train_count"] > 0]
    colours = {"many": "tab:green", "medium": "tab:orange", "few": "tab:red"}
    points = {}
    for r in rows:
        points.setdefault((r["train_count"], round(100 * r["recall"], 6)), []).append(r)
    fig, ax = plt.subplots(figsize=(8, 5))
    for (count, recall), members in points.items():
        group = "many" if count > 100 else "medium" if count >= 20 else "few"
        ax.scatter(count, recall, color=colours[group], s=30 + 10 * (len(members) - 1),
                   label=group, zorder=3)
        names = [m["species"] for m in members]
        label = "\n".join(names if len(names) <= 4 else names[:3] + [f"+{len(names) - 3} more"])
        ax.annotate(label, (count, recall), fontsize=7, xytext=(4, 2),
                    textcoords="offset points", va="bottom")
    from matplotlib.lines import Line2D
    shown = sorted({label for label in ax.get_legend_handles_labels()[1]}, key=list(colours).index)
    ax.legend([Line2D([], [], marker="o", linestyle="", color=colours[k]) for k in shown],
              [f"{k} ({'>100' if k == 'many' else '20-100' if k == 'medium' else '<20'})"
               for k in shown], title="train images", loc="upper left")
    overall = row_value(data.tables["candidate"], "accuracy")
    if overall is not None:
        ax.axhline(overall, color="gray", linestyle="--", linewidth=1)
        ax.text(0.99, overall + 1, f"overall accuracy {overall:.0f}%", fontsize=8,
                color="gray", ha="right", va="bottom", transform=ax.get_yaxis_transform())
    ax.set_xscale("log")
    counts = [r["train_count"] for r in rows] or [1]
    ax.set_xlim(min(counts) / 1.5, max(counts) * 2.5)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
             if min(counts) / 1.5 <= t <= max(counts) * 2.5]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("recall on the test split (%)")
    ax.set_ylim(-5, 105)
    ax.grid(True, alpha=0.3)
    ax.set_title("Per-species recall against training images")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(data: ReportData, folder: str) -> Dict[str, str]:
    """Writes every report file into folder; returns {file name: path}."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for name, text in (("metrics.md", metrics_markdown(data)), ("metrics.csv", metrics_csv(data)),
                       ("per_species.csv", per_species_csv(data)), (MODEL_CARD, model_card(data))):
        written[name] = os.path.join(folder, name)
        with open(written[name], "w", encoding="utf-8") as handle:
            handle.write(text)
    for name, plot in zip(FIGURES, (plot_accuracy_by_group, plot_confusion_matrix,
                                    plot_recall_vs_train_count)):
        written[name] = os.path.join(folder, name)
        plot(data, written[name])
    return written


def write_model_card_next_to_model(data: ReportData) -> Optional[str]:
    """<pushed version>/assets.extra/model_card.md, when this candidate was pushed."""
    if not (data.pushed and data.pushed_destination):
        return None
    folder = os.path.join(data.pushed_destination, "assets.extra")
    path = os.path.join(folder, MODEL_CARD)
    if "://" in folder:  # gs://... (Kubeflow runs): TFX's filesystem layer
        from tfx.dsl.io import fileio
        fileio.makedirs(folder)
        with fileio.open(path, "w") as handle:
            handle.write(model_card(data))
    else:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(model_card(data))
    return path


# ---------------------------------------------------------------------------------------------
# Reading a run (ML Metadata, TFMA, the ingest report)

def _inputs_of_producer(store, artifact_id: int) -> Dict[str, list]:
    """The execution that output artifact_id: ({input name: [artifacts]}, execution)."""
    from ml_metadata.proto import metadata_store_pb2
    events = store.get_events_by_artifact_ids([artifact_id])
    producers = [e.execution_id for e in events
                 if e.type in (metadata_store_pb2.Event.OUTPUT,
                               metadata_store_pb2.Event.DECLARED_OUTPUT)]
    if not producers:
        return {}, None
    execution = store.get_executions_by_id([producers[-1]])[0]
    inputs = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT):
            key = event.path.steps[0].key if event.path.steps else ""
            inputs.setdefault(key, []).append(event.artifact_id)
    return ({key: store.get_artifacts_by_id(ids) for key, ids in inputs.items()}, execution)


def _execution_property(execution, name: str, default=None):
    for properties in (execution.custom_properties, execution.properties):
        if name in properties:
            value = properties[name]
            return getattr(value, value.WhichOneof("value"))
    return default


def _read_vocabulary(model_uri: str) -> List[str]:
    from tfx.dsl.io import fileio
    from trainer.preprocessing import SPECIES_VOCAB
    path = os.path.join(model_uri, "Format-Serving", "assets", SPECIES_VOCAB)
    with fileio.open(path, "r") as handle:
        return [line.rstrip("\n") for line in handle if line.rstrip("\n")]


def _validation(evaluation_uri: str) -> Dict:
    import tensorflow_model_analysis as tfma
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except Exception:  # noqa: BLE001 - no validation file: say so in the report
        return {}
    failures = []
    for per_slice in result.metric_validations_per_slice:
        slice_name = ", ".join(
            f"{k.column}={k.bytes_value.decode() if k.HasField('bytes_value') else k}"
            for k in per_slice.slice_key.single_slice_keys) or "overall"
        for failure in per_slice.failures:
            key = failure.metric_key
            name = key.name + (" change vs baseline" if key.is_diff else "")
            threshold = failure.metric_threshold
            if threshold.HasField("change_threshold"):
                limit = f"must be >= {threshold.change_threshold.absolute.value:+.3f}"
            else:
                limit = f"must be >= {threshold.value_threshold.lower_bound.value:.3f}"
            failures.append(f"{slice_name}: {name} = "
                            f"{failure.metric_value.double_value.value:+.3f} ({limit})")
    for spec in result.missing_slices:
        failures.append(f"slice not found: {dict(spec.feature_values) or spec}")
    return {"ok": bool(result.validation_ok), "failures": failures,
            "rubber_stamp": bool(result.rubber_stamp)}


def gather(config) -> ReportData:
    """Everything about the newest evaluation of config's pipeline."""
    from pipeline import metrics_table, summary

    outputs = summary.run_outputs(config.metadata_path, config.pipeline_name)
    if not outputs["evaluation"]:
        raise FileNotFoundError(f"no evaluation of pipeline {config.pipeline_name!r} in "
                                f"{config.metadata_path}: has the pipeline run to the Evaluator?")
    from components.image_example_gen import executor
    store = summary.open_store(config.metadata_path)
    evaluation = summary.latest_artifact(store, config.pipeline_name, "ModelEvaluation")
    inputs, _ = _inputs_of_producer(store, evaluation.id)
    model = inputs["model"][0]
    names = metrics_table.model_names(evaluation.uri)
    tables = {"candidate": metrics_table.load(evaluation.uri, names["candidate"])}
    if names["baseline"] is not None:
        tables["baseline"] = metrics_table.load(evaluation.uri, names["baseline"])

    _, trainer = _inputs_of_producer(store, model.id)
    training = json.loads(_execution_property(trainer, "custom_config", "{}") or "{}") \
        if trainer else {}
    ingest = executor.load_summary(outputs["ingest_report"]) if outputs["ingest_report"] else {}
    ingest_artifact = summary.latest_artifact(store, config.pipeline_name,
                                              "rarespecies.IngestReport")
    data_root = ""
    if ingest_artifact is not None:
        _, example_gen = _inputs_of_producer(store, ingest_artifact.id)
        data_root = _execution_property(example_gen, "input_base", "") if example_gen else ""
    counts = ingest.get("counts", {})
    return ReportData(
        pipeline_name=config.pipeline_name, tables=tables,
        species=_read_vocabulary(model.uri), train_counts=counts.get("train", {}),
        test_counts=counts.get("eval", {}), evaluation_uri=evaluation.uri,
        validation=_validation(evaluation.uri), blessed=outputs["blessed"],
        pushed=outputs["pushed"], pushed_destination=outputs["pushed_destination"],
        model_name=config.model_name, training=training, data_root=data_root,
        files_rejected=int(ingest.get("files_rejected", 0)))
