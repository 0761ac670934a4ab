"""pipeline/reports/table2.py: statistics over seeds and the sweep's Table II files."""
import csv
import io
import os

import pytest

from pipeline.reports import table2


def table(accuracy, bottom_2, f1):
    return {"overall": {"accuracy": accuracy, "macro_f1": f1, "balanced_accuracy": accuracy},
            "frequency_group": {"bottom_2": {"accuracy": bottom_2}}}


def test_summary_mean_and_std_over_seeds():
    summary = table2.summarise({"CE": [table(0.5, 0.0, 0.4), table(0.7, 0.5, 0.6)],
                               "x": [table(0.6, 0.2, 0.5)]})
    mean, std = summary["CE"]["accuracy"]
    assert mean == pytest.approx(60.0) and std == pytest.approx(14.1421356)  # % units
    assert summary["CE"]["f1"][0] == pytest.approx(0.5)  # F1 stays 0-1
    assert summary["x"]["bottom_2"] == (pytest.approx(20.0), None)  # one seed: no std
    assert summary["x"]["top_5"] == (None, None)  # slice absent


def test_table_has_ours_and_the_papers_columns(tmp_path):
    summary = table2.summarise({"CE": [table(0.5, 0.0, 0.4), table(0.7, 0.5, 0.6)],
                               "logit_adjusted": [table(0.6, 0.2, 0.5)]})
    paths = table2.write(summary, str(tmp_path), repeats=2, note="demo")
    text = open(paths["table2.md"]).read()
    assert "| metric | CE (ours) | CE (paper) | logit_adjusted (ours) |" in text
    total = next(line for line in text.splitlines() if line.startswith("| total accuracy"))
    assert total == "| total accuracy | 60.00 ± 14.14 | 81.68 | 60.00 |"
    rows = list(csv.reader(io.StringIO(open(paths["table2.csv"]).read())))
    assert rows[0][:4] == ["metric", "CE", "CE std", "CE paper"]
    assert [r[0] for r in rows[1:]] == list(table2.TABLE_ROWS)
    assert rows[1][3] == "13.4600"  # the paper's bottom_2 for CE
    assert os.path.getsize(paths["table2.png"]) > 10_000
