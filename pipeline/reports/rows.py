"""The rows every report shows (Table II's groups, then the long-tail groups and overall
metrics), their units, and how a value is formatted: shared by the run's report
(report.py, model_card.py, figures.py) and the sweep's Table II (table2.py)."""
import math
from typing import Dict, Optional

from schema.features import (FREQUENCY_GROUP_KEY, GROUP_LABELS, GROUPS, LONG_TAIL_GROUPS,
                             PAPER_GROUPS)

# (key, label, unit): Table II's order, then the long-tail groups and the extra metrics.
# Accuracies in % and F1 in 0-1, as in the paper's Table II.
ROWS = (
    *[(g, f"{GROUP_LABELS[g]} ({g})", "%") for g in PAPER_GROUPS],
    ("f1", "F1 (macro over species)", "0-1"),
    ("accuracy", "total accuracy", "%"),
    ("balanced_accuracy", "balanced accuracy (mean per-species recall)", "%"),
    *[(g, f"{g}: {GROUP_LABELS[g]}", "%") for g in LONG_TAIL_GROUPS],
    ("top_3_accuracy", "top-3 accuracy", "%"),
    ("calibration_error", "expected calibration error (15 bins)", "0-1"),
)
LABELS = {key: label for key, label, _ in ROWS}
UNITS = {key: unit for key, _, unit in ROWS}
# Rows read from the overall slice (the others are frequency groups): row -> TFMA metric.
OVERALL_ROWS = {"f1": "macro_f1", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                "top_3_accuracy": "top_3_accuracy", "calibration_error": "calibration_error"}
assert set(UNITS) == set(OVERALL_ROWS) | set(GROUPS)


def row_value(table: Optional[Dict], key: str) -> Optional[float]:
    """A row's value for one model's metrics table (metrics_table.load), in the row's unit;
    None where the slice does not exist or the value is not a number."""
    if not table:
        return None
    if key in OVERALL_ROWS:
        value = table.get("overall", {}).get(OVERALL_ROWS[key])
    else:
        value = table.get(FREQUENCY_GROUP_KEY, {}).get(key, {}).get("accuracy")
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return 100.0 * value if UNITS[key] == "%" else float(value)


def group_examples(table: Dict, key: str) -> Optional[int]:
    """Test examples behind a row (the overall count for overall rows)."""
    values = (table.get("overall", {}) if key in OVERALL_ROWS
              else table.get(FREQUENCY_GROUP_KEY, {}).get(key, {}))
    count = values.get("example_count")
    return None if count is None else int(count)


def fmt(value: Optional[float], unit: str = "0-1") -> str:
    """A value as the reports print it: 2 decimals in %, 3 in 0-1, blank when missing."""
    if value is None:
        return ""
    return f"{value:.2f}" if unit == "%" else f"{value:.3f}"


def fmt_mean_std(mean: Optional[float], std: Optional[float], unit: str) -> str:
    """'mean ± std' over seeds ('mean' alone for one seed), in fmt's digits."""
    if mean is None:
        return ""
    return fmt(mean, unit) + ("" if std is None else f" ± {fmt(std, unit)}")
