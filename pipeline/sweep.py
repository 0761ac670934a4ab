"""`rarespecies sweep`: the paper's Table II experiment as one pipeline run.

One pipeline: ingestion, statistics, validation and Transform once, then a Trainer and an
Evaluator per (loss configuration, seed). Every configuration starts from the same initial
weights (the same seed, as the paper reset its model); `--repeats N` uses N seeds. With a
frozen backbone the Trainers share cached backbone features (trainer/head_only.py), so each
configuration trains only the head. Nothing is pushed: a sweep compares, `run` ships.
"""
import csv
import dataclasses
import io
import math
import os
import re
from typing import Dict, List, Optional, Sequence

from pipeline import report
from pipeline.configs import PipelineConfig
from pipeline.paper import TABLE_II, TABLE_II_COLUMNS

# Table II's rows, then the long-tail ones (issue: balanced accuracy, few, medium, many).
TABLE_ROWS = ("bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "f1", "accuracy",
              "balanced_accuracy", "few", "medium", "many")
LOSS_PARAMS = ("alpha", "gamma", "beta", "tau", "posthoc_tau")


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str          # the table's column
    loss: str
    params: tuple = ()  # ((name, value), ...) overriding the config's loss parameters

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", self.label).strip("_")


def paper_variants() -> List[Variant]:
    """Cross-entropy and Table II's five (alpha, gamma) pairs, labelled as in the paper."""
    return [Variant(label, loss, () if alpha is None else (("alpha", alpha), ("gamma", gamma)))
            for label, loss, alpha, gamma in TABLE_II_COLUMNS]


def parse_variant(spec: str) -> Variant:
    """A Table II label ('CE', 'a.25 g2', ...), 'LOSS' or 'LOSS:name=value,...', e.g.
    'class_balanced_focal:beta=0.999,gamma=1'."""
    paper = {variant.label: variant for variant in paper_variants()}
    if spec in paper:
        return paper[spec]
    loss, _, rest = spec.partition(":")
    params = []
    for item in filter(None, rest.split(",")):
        name, _, value = item.partition("=")
        if name not in LOSS_PARAMS or not value:
            raise ValueError(f"bad loss parameter {item!r} in {spec!r}; use NAME=VALUE with NAME "
                             f"one of {', '.join(LOSS_PARAMS)}")
        params.append((name, float(value)))
    return Variant(spec if params else loss, loss, tuple(params))


def seeds(config: PipelineConfig, repeats: int) -> List[int]:
    return [config.seed + i for i in range(repeats)]


def trainer_config(config: PipelineConfig, variant: Variant, seed: int) -> dict:
    values = dict(config.trainer_config(), loss=variant.loss, seed=seed, **dict(variant.params))
    if config.backbone == "frozen":
        # Shared by every Trainer of the sweep: features computed once per backbone.
        values["feature_cache_dir"] = os.path.join(config.pipeline_root, "FeatureCache")
    return values


def create_sweep_pipeline(config: PipelineConfig, metadata_connection_config=None,
                          input_fingerprint: Optional[str] = None, *,
                          variants: Sequence[Variant], seed_list: Sequence[int]):
    """Same call as pipeline.create_pipeline, plus the configurations and seeds to sweep."""
    from tfx import v1 as tfx
    from pipeline import pipeline as definition
    upstream = definition.create_upstream(config, input_fingerprint)
    components = list(upstream.values())
    for variant in variants:
        for seed in seed_list:
            trainer = definition.create_trainer(
                config, upstream, trainer_config(config, variant, seed)
            ).with_id(f"Trainer.{variant.slug}.seed{seed}")
            evaluator = definition.create_evaluator(config, upstream, trainer).with_id(
                f"Evaluator.{variant.slug}.seed{seed}")
            components += [trainer, evaluator]
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=components, enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_args)


# ---------------------------------------------------------------------------------------------
# Results

def collect(config: PipelineConfig, variants: Sequence[Variant],
            seed_list: Sequence[int]) -> Dict[str, List[Dict]]:
    """label -> the metrics table of each seed's evaluation, newest LIVE artifacts in MLMD."""
    from pipeline import metrics_table, summary
    store = summary.open_store(config.metadata_path)
    results = {}
    for variant in variants:
        tables = []
        for seed in seed_list:
            prefix = os.path.join(config.pipeline_root, f"Evaluator.{variant.slug}.seed{seed}", "")
            artifact = summary.latest_artifact(store, config.pipeline_name, "ModelEvaluation",
                                               uri_prefix=prefix)
            if artifact is None:
                raise RuntimeError(f"no evaluation for {variant.label} seed {seed} under {prefix}")
            tables.append(metrics_table.load(artifact.uri))
        results[variant.label] = tables
    return results


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
    return {label: {row: mean_std([report.row_value(t, row) for t in tables])
                    for row in TABLE_ROWS}
            for label, tables in results.items()}


def paper_value(label: str, row: str) -> Optional[float]:
    labels = [c[0] for c in TABLE_II_COLUMNS]
    if label not in labels or row not in TABLE_II:
        return None
    return TABLE_II[row][labels.index(label)]


def _cell(mean, std, unit) -> str:
    if mean is None:
        return ""
    digits = 2 if unit == "%" else 3
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def table_markdown(summary: Dict[str, Dict[str, tuple]], repeats: int, note: str = "") -> str:
    units = {key: unit for key, _, unit in report.ROWS}
    labels_ = {key: label for key, label, _ in report.ROWS}
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
    if note:
        lines += [note, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in TABLE_ROWS:
        cells = [labels_[row]]
        for label, rows in summary.items():
            cells.append(_cell(*rows[row], units[row]))
            paper = paper_value(label, row)
            if paper_value(label, "accuracy") is not None:
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
    rows = [r for r in TABLE_ROWS if r != "f1"]
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
    paths = {name: os.path.join(folder, name) for name in ("table2.md", "table2.csv", "table2.png")}
    with open(paths["table2.md"], "w") as handle:
        handle.write(table_markdown(summary, repeats, note))
    with open(paths["table2.csv"], "w", newline="") as handle:
        handle.write(table_csv(summary))
    plot(summary, paths["table2.png"])
    return paths
