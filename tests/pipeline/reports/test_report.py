"""The report writer (pipeline/reports/) on a fabricated evaluation: no pipeline, no TFMA."""
import csv
import os

import pytest

from pipeline.reports import report
from pipeline.reports.figures import FIGURES

# Label ids in vocabulary order (most frequent first, as Transform assigns them).
SPECIES = ["Sora", "House Finch", "Puffin", "Robin", "Araripe Manakin"]
TRAIN = {"Sora": 248, "House Finch": 207, "Puffin": 70, "Robin": 4, "Araripe Manakin": 2}
TEST = {"Sora": 60, "House Finch": 55, "Puffin": 30, "Robin": 20, "Araripe Manakin": 20}


def group(accuracy, count):
    return {"accuracy": accuracy, "example_count": float(count)}


def fabricated(baseline=True) -> report.ReportData:
    candidate = {
        "overall": {"accuracy": 0.8, "example_count": 185.0, "macro_f1": 0.6123,
                    "balanced_accuracy": 0.55, "top_3_accuracy": 0.9,
                    "calibration_error": 0.0456, "accuracy_diff": 0.05},
        "frequency_group": {"bottom_2": group(0.25, 40), "bottom_5": group(0.8, 185),
                            "bottom_10": group(0.8, 185), "top_5": group(0.8, 185),
                            "top_10": group(0.8, 185), "many": group(0.95, 115),
                            "medium": group(0.7, 30), "few": group(0.25, 40)},
        "species": {s: {"accuracy": 0.5, "example_count": float(n)} for s, n in TEST.items()},
        "per_class": {0: {"precision": 0.9, "recall": 0.95, "f1": 0.92},
                      1: {"precision": 0.8, "recall": 0.9, "f1": 0.85},
                      2: {"precision": 0.7, "recall": 0.6, "f1": 0.65},
                      3: {"precision": 0.5, "recall": 0.4, "f1": 0.44},
                      4: {"precision": 0.0, "recall": 0.0, "f1": 0.0}},
        # (actual id, predicted id): count; Araripe Manakin (4) is always taken for a Sora (0).
        "confusion_matrix": {(0, 0): 57.0, (0, 1): 3.0, (1, 1): 50.0, (1, 0): 5.0,
                             (2, 2): 18.0, (2, 0): 12.0, (3, 3): 8.0, (3, 2): 12.0,
                             (4, 0): 20.0},
    }
    tables = {"candidate": candidate}
    if baseline:
        tables["baseline"] = {
            "overall": {"accuracy": 0.75, "example_count": 185.0, "macro_f1": 0.7,
                        "balanced_accuracy": 0.65, "top_3_accuracy": 0.88,
                        "calibration_error": 0.1},
            "frequency_group": {"bottom_2": group(0.5, 40), "top_5": group(0.75, 185)},
        }
    return report.ReportData(
        pipeline_name="rarespecies", tables=tables, species=SPECIES, train_counts=TRAIN,
        test_counts=TEST, evaluation_uri="/x/Evaluator/evaluation/7",
        validation={"ok": False, "rubber_stamp": False,
                    "failures": ["frequency_group=bottom_2: accuracy change vs baseline = "
                                 "-0.250 (must be >= -0.020)"]},
        blessed=False, pushed=False, model_name="rarespecies",
        training={"loss": "sigmoid_focal", "alpha": 0.25, "gamma": 2.0, "epochs": 20,
                  "image_size": 224, "weights": "none"},
        data_root="/data/out/data/demo", files_rejected=1)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    return report.write(fabricated(), str(folder)), str(folder)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_metrics_csv_has_table_ii_rows_and_a_column_per_model(written):
    files, _ = written
    rows = read_csv(files["metrics.csv"])
    assert rows[0] == ["row", "description", "unit", "examples", "candidate", "baseline"]
    assert [r[0] for r in rows[1:]] == [
        "bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "f1", "accuracy",
        "balanced_accuracy", "many", "medium", "few", "top_3_accuracy", "calibration_error"]
    by_row = {r[0]: r for r in rows[1:]}
    assert by_row["bottom_2"][2:] == ["%", "40", "25.00", "50.00"]
    assert by_row["f1"][2:] == ["0-1", "", "0.612", "0.700"]     # F1 stays in 0-1 (Table II)
    assert by_row["accuracy"][2:] == ["%", "185", "80.00", "75.00"]
    assert by_row["many"][4:] == ["95.00", ""]                   # no such slice for baseline
    assert by_row["calibration_error"][4:] == ["0.046", "0.100"]


def test_per_species_csv_sorted_by_train_count_with_names_from_the_vocabulary(written):
    files, _ = written
    rows = read_csv(files["per_species.csv"])
    assert rows[0] == ["species", "train_count", "test_count", "precision", "recall", "f1"]
    assert rows[1] == ["Sora", "248", "60", "0.900", "0.950", "0.920"]
    assert rows[-1] == ["Araripe Manakin", "2", "20", "0.000", "0.000", "0.000"]
    assert [r[0] for r in rows[1:]] == sorted(TRAIN, key=lambda s: -TRAIN[s])


def test_markdown_report_and_model_card(written):
    files, _ = written
    with open(files["metrics.md"]) as handle:
        markdown = handle.read()
    assert "| group | examples | candidate | baseline |" in markdown
    assert "| 2 rarest species (bottom_2) (%) | 40 | 25.00 | 50.00 |" in markdown
    assert "NOT blessed" in markdown and "bottom_2: accuracy change vs baseline" in markdown
    for figure in FIGURES:
        assert f"({figure})" in markdown
    with open(files["model_card.md"]) as handle:
        card = handle.read()
    for section in ("## Model", "## Data", "## Results by species frequency group",
                    "## Intended use", "## Known limits"):
        assert section in card
    assert "Araripe Manakin (2 train, recall 0.000)" in card
    assert "sigmoid_focal alpha 0.25 gamma 2.0" in card
    assert "Synthetic data" in card and "files rejected at ingestion: 1" in card
    assert "(version not pushed)" in card


def test_figures_are_pngs(written):
    files, _ = written
    for name in FIGURES:
        with open(files[name], "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(files[name]) > 10_000


def test_confusion_matrix_rows_follow_train_counts():
    data = fabricated()
    order = [row["species"] for row in report.species_rows(data)]
    assert order == ["Sora", "House Finch", "Puffin", "Robin", "Araripe Manakin"]


def test_without_baseline_only_the_candidate_column(tmp_path):
    data = fabricated(baseline=False)
    files = report.write(data, str(tmp_path))
    rows = read_csv(files["metrics.csv"])
    assert rows[0][-1] == "candidate"
    assert "There was no baseline" in open(files["metrics.md"]).read()


def test_model_card_goes_next_to_a_pushed_model(tmp_path):
    data = fabricated()
    assert report.write_model_card_next_to_model(data) is None  # not pushed: nothing written
    version = tmp_path / "rarespecies" / "1700000000"
    version.mkdir(parents=True)
    data.pushed, data.blessed, data.pushed_destination = True, True, str(version)
    path = report.write_model_card_next_to_model(data)
    assert path == str(version / "assets.extra" / "model_card.md")
    assert "(version 1700000000)" in open(path).read()


def test_report_subcommand(tmp_path, capsys):
    from pipeline import cli
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    assert "--output-dir" in capsys.readouterr().out
    assert cli.main(["report", "--output-dir", str(tmp_path)]) == 1
    assert "has the pipeline run" in capsys.readouterr().err


def test_model_card_recipe_lines_name_the_choices_and_the_abstain_rule():
    from pipeline.reports.model_card import recipe_lines
    choices = {"chosen_on": "the validation split", "best_epoch": 7,
               "classifier": "re-trained on class-balanced batches (cRT)", "posthoc_tau": 0.5,
               "prototype_weight": 0.25, "validation_f1": 0.61, "temperature": 1.8,
               "validation_ece": {"before": 0.21, "after": 0.04},
               "abstain": {"threshold": 0.62, "precision": 0.955, "coverage": 0.4,
                           "target_precision": 0.95}}
    lines = recipe_lines({"sampling": "balanced", "learning_rate": 1e-4}, choices)
    assert lines[0] == "- changed from the paper's settings: sampling balanced"
    assert lines[1] == "- weights kept: those of epoch 7"  # a report from before averaging
    assert "post-hoc tau 0.5" in lines[2] and "classifier re-trained" in lines[2]
    assert lines[3] == ("- answers 'unknown' below a top score of 0.620: on the validation split "
                        "the answers kept were right 96% of the time (target 95%) and covered "
                        "40% of the images; scores calibrated with temperature 1.8 (calibration "
                        "error 0.210 before, 0.040 after)")
    decided = dict(choices, augmentation={
        "asked": "auto", "chosen": "crop", "chosen_on": "the train and validation images",
        "mirror_check": {"accuracy": 0.916, "mirrored_accuracy": 0.676, "chance": 0.1,
                         "z": 9.08}})
    assert recipe_lines({}, decided)[0] == (
        "- augmentation auto chose crop, on the train and validation images: the nearest "
        "class mean on their pixels was right for 92% of them and for 68% of their mirror "
        "images (chance 10%; z 9.1)")
    sampled = dict(choices, sampling={
        "asked": "auto", "chosen": "quota", "chosen_on": "the train counts",
        "mean_train_images": 90.6, "species_quota": 64})
    assert recipe_lines({}, sampled)[0] == (
        "- sampling auto chose quota, on the train counts: the species average 90.6 train "
        "images, the species quota is 64")
    averaged = dict(choices, weights_kept="the mean of the weights of epochs 8-10")
    assert recipe_lines({}, averaged)[0] == ("- weights kept: the mean of the weights of "
                                             "epochs 8-10")
    chosen = ("- chosen on the validation split: classifier re-trained on class-balanced "
              "batches (cRT), post-hoc tau {}, prototype weight 0.25 (validation macro-F1 "
              "0.610); the test split chose nothing")
    assert recipe_lines({}, choices)[1] == chosen.format("0.5")  # a report from before the rule
    fallback = dict(choices, posthoc_tau=1.0, validation_lacks=["Kakapo", "Takahe"],
                    posthoc_tau_fallback=True)
    assert recipe_lines({}, fallback)[1] == chosen.format(
        "1.0 (fixed, not fitted: the split lacks 2 species that train has, Kakapo, Takahe)")
    # Without --fit-posthoc the tau was never to be fitted: no reason to give.
    unfitted = dict(choices, posthoc_tau=0.0, validation_lacks=["Kakapo"],
                    posthoc_tau_fallback=False)
    assert recipe_lines({}, unfitted)[1] == chosen.format("0.0")
