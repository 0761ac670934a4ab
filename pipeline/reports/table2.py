"""The sweep's Table II: accuracy by species group and macro-F1 per loss configuration, mean and
standard deviation over seeds, beside the paper's figures (table2.md, table2.csv, table2.png)."""
import csv
import io
import math
import os
from typing import Dict, List, Optional, Sequence

from pipeline.data.paper import TABLE_II, TABLE_II_COLUMNS, TABLE_II_ROWS
from pipeline.reports.rows import LABELS, UNITS, fmt_mean_std, row_value
from schema.features import LONG_TAIL_GROUPS

# Table II's rows, then the long-tail ones: balanced accuracy, few, medium, many; then the
# validation split's macro-F1, the only figure that picks the best configuration.
VALIDATION_ROW = "validation_f1"
TABLE_ROWS = (TABLE_II_ROWS + ("balanced_accuracy",) + tuple(reversed(LONG_TAIL_GROUPS))
              + (VALIDATION_ROW,))
ROW_LABELS = dict(LABELS, **{VALIDATION_ROW: "macro-F1 on the validation split (chooses)"})
ROW_UNITS = dict(UNITS, **{VALIDATION_ROW: "0-1"})
FILES = ("table2.md", "table2.csv", "table2.png")


def collect(config, variants: Sequence, seed_list: Sequence[int]) -> Dict[str, List[Dict]]:
    """label -> the metrics table of each seed's evaluation (newest LIVE artifacts in MLMD),
    with the Trainer's validation macro-F1 as table["validation"]["macro_f1"]."""
    from pipeline.reports import metrics_table, mlmd
    from pipeline.sweep import component_suffix
    store = mlmd.open_store(config.metadata_path)
    results = {}
    for variant in variants:
        tables = []
        for seed in seed_list:
            prefix = os.path.join(config.pipeline_root,
                                  f"Evaluator.{component_suffix(variant, seed)}", "")
            artifact = mlmd.latest_artifact(store, config.pipeline_name, "ModelEvaluation",
                                            uri_prefix=prefix)
            if artifact is None:
                raise RuntimeError(f"no evaluation for {variant.label} seed {seed} under {prefix}")
            table = metrics_table.load(artifact.uri)
            table["validation"] = {"macro_f1": _validation_f1(store, config, variant, seed)}
            tables.append(table)
        results[variant.label] = tables
    return results


def _validation_f1(store, config, variant, seed) -> Optional[float]:
    from pipeline.reports import gather, mlmd
    from pipeline.sweep import component_suffix
    prefix = os.path.join(config.pipeline_root, f"Trainer.{component_suffix(variant, seed)}", "")
    model = mlmd.latest_artifact(store, config.pipeline_name, "Model", uri_prefix=prefix)
    return gather.read_training_report(model.uri).get("validation_f1") if model else None


def best_by_validation(summary: Dict[str, Dict[str, tuple]]) -> Optional[str]:
    """The configuration with the best mean validation macro-F1 (never a test figure)."""
    scored = [(rows[VALIDATION_ROW][0], label) for label, rows in summary.items()
              if rows[VALIDATION_ROW][0] is not None]
    return max(scored)[1] if scored else None


def _row(table: Optional[Dict], row: str) -> Optional[float]:
    if row == VALIDATION_ROW:
        return (table or {}).get("validation", {}).get("macro_f1")
    return row_value(table, row)


def mean_std(values: List[Optional[float]]):
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    mean = sum(present) / len(present)
    if len(present) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1))


def summarise(results: Dict[str, List[Dict]]) -> Dict[str, Dict[str, tuple]]:
    """label -> row -> (mean, sample std or None), in report units (% and F1 0-1)."""
    return {label: {row: mean_std([_row(t, row) for t in tables]) for row in TABLE_ROWS}
            for label, tables in results.items()}


def paper_value(label: str, row: str) -> Optional[float]:
    labels = [c[0] for c in TABLE_II_COLUMNS]
    if label not in labels or row not in TABLE_II:
        return None
    return TABLE_II[row][labels.index(label)]


def table_markdown(summary: Dict[str, Dict[str, tuple]], repeats: int, note: str = "") -> str:
    header = ["metric"]
    for label in summary:
        header.append(f"{label} (ours)")
        if paper_value(label, "accuracy") is not None:
            header.append(f"{label} (paper)")
    lines = ["# Table II: accuracy (%) by species group, and macro-F1, per loss", "",
             f"Ours: mean ± standard deviation over {repeats} seed(s). The paper's figures "
             "(Goldsworthy & Matam, Table II; real bird photos, ImageNet-initialised MobileNetV2) "
             "are in the columns marked (paper). Our F1 is the standard macro-F1 (with the "
             "factor 2 the paper's formula lacks).", ""]
    best = best_by_validation(summary)
    if best:
        lines += [f"Best configuration by macro-F1 on the validation split: **{best}** (the "
                  "test split chose nothing).", ""]
    if note:
        lines += [note, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in TABLE_ROWS:
        cells = [ROW_LABELS[row]]
        for label, rows in summary.items():
            cells.append(fmt_mean_std(*rows[row], ROW_UNITS[row]))
            if paper_value(label, "accuracy") is not None:
                paper = paper_value(label, row)  # as printed in the paper: 2 decimals
                cells.append("" if paper is None else f"{paper:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(summary: Dict[str, Dict[str, tuple]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["metric"]
    for label in summary:
        header += [label, f"{label} std", f"{label} paper"]
    writer.writerow(header)
    for row in TABLE_ROWS:
        values = [row]
        for label, rows in summary.items():
            mean, std = rows[row]
            paper = paper_value(label, row)
            values += ["" if v is None else f"{v:.4f}" for v in (mean, std, paper)]
        writer.writerow(values)
    return out.getvalue()


def plot(summary: Dict[str, Dict[str, tuple]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in TABLE_ROWS if ROW_UNITS[r] == "%"]
    labels = list(summary)
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(rows)), 4.5))
    for i, label in enumerate(labels):
        means = [summary[label][r][0] or 0.0 for r in rows]
        errors = [summary[label][r][1] or 0.0 for r in rows]
        ax.bar([x + i * width for x in range(len(rows))], means, width, yerr=errors, capsize=2,
               label=label)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(rows))], rows, rotation=20)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Accuracy by species group and loss (mean ± std over seeds)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(summary: Dict[str, Dict[str, tuple]], folder: str, repeats: int,
          note: str = "") -> Dict[str, str]:
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, name) for name in FILES}
    with open(paths["table2.md"], "w") as handle:
        handle.write(table_markdown(summary, repeats, note))
    with open(paths["table2.csv"], "w", newline="") as handle:
        handle.write(table_csv(summary))
    plot(summary, paths["table2.png"])
    return paths
