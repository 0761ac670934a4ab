"""The report's figures (matplotlib, Agg): accuracy by species group, the confusion matrix by
train count, and each species' recall against its train count."""
from typing import Dict

from pipeline.reports.gather import ReportData, models, species_rows
from pipeline.reports.rows import group_examples, row_value
from schema.features import GROUP_LABELS, GROUPS, LONG_TAIL_GROUPS, long_tail_group


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_accuracy_by_group(data: ReportData, path: str) -> None:
    import numpy as np
    plt = _plt()
    keys = list(GROUPS) + ["accuracy", "balanced_accuracy"]
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
    colours = dict(zip(LONG_TAIL_GROUPS, ("tab:green", "tab:orange", "tab:red")))
    points = {}
    for r in rows:
        points.setdefault((r["train_count"], round(100 * r["recall"], 6)), []).append(r)
    fig, ax = plt.subplots(figsize=(8, 5))
    for (count, recall), members in points.items():
        group = long_tail_group(count)
        ax.scatter(count, recall, color=colours[group], s=30 + 10 * (len(members) - 1),
                   label=group, zorder=3)
        names = [m["species"] for m in members]
        label = "\n".join(names if len(names) <= 4 else names[:3] + [f"+{len(names) - 3} more"])
        ax.annotate(label, (count, recall), fontsize=7, xytext=(4, 2),
                    textcoords="offset points", va="bottom")
    from matplotlib.lines import Line2D
    shown = sorted({label for label in ax.get_legend_handles_labels()[1]}, key=list(colours).index)
    ax.legend([Line2D([], [], marker="o", linestyle="", color=colours[k]) for k in shown],
              [f"{k} ({GROUP_LABELS[k].replace(' train images', '')})" for k in shown],
              title="train images", loc="upper left")
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


# file name -> the function that draws it
FIGURES: Dict[str, object] = {
    "accuracy_by_group.png": plot_accuracy_by_group,
    "confusion_matrix.png": plot_confusion_matrix,
    "recall_vs_train_count.png": plot_recall_vs_train_count,
}
