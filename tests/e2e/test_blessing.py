"""The blessing protects rare species: two real pipeline runs on one data root and output dir.

1. A model with post-hoc logit adjustment (--posthoc-tau 3, Menon et al.) that gives rare
   species a chance: the first model, blessed and pushed (no baseline yet).
2. The same training without the adjustment (--posthoc-tau 0): it predicts the common species,
   so on this test set (common species with 30 images, rare ones with 8) it GAINS overall
   accuracy but loses the 10 rarest species' accuracy. It must not be blessed nor pushed.

The second run reuses ingestion and Transform from the cache; only Trainer, Evaluator (now
with the first model as baseline) and Pusher run again.
"""
import contextlib
import csv
import dataclasses
import io
import os

import pytest

from pipeline.data import demo_data, paper
from tests.support.pipeline_runs import executions, small_config

pytestmark = pytest.mark.slow

COMMON = list(paper.PAPER_SPECIES[:2])
RARE = list(paper.PAPER_SPECIES[-10:])  # bottom_10: exactly these
TRAIN = {**{s: 40 for s in COMMON}, **{s: 4 for s in RARE}}
TEST = {**{s: 30 for s in COMMON}, **{s: 8 for s in RARE}}
# The data have no valid/ folder: a tenth of each species' train images (rounded, at least one
# kept) is held out for validation, so the report counts what the model trained on.
TRAINED = {**{s: 36 for s in COMMON}, **{s: 4 for s in RARE}}


def run_and_report(config):
    """The pipeline, then what `rarespecies run` does after it (summary, report, model card)."""
    from pipeline.cli.run import print_summary
    from pipeline.local_runner import run_pipeline
    from pipeline.reports import mlmd
    run_pipeline(config)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        print_summary(config, 0.0)
    outputs = mlmd.run_outputs(config.metadata_path, config.pipeline_name)
    versions = sorted(os.listdir(config.serving_model_dir))
    return outputs, versions, printed.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blessing")
    demo_data.generate(tmp / "data", seed=5, image_size=48, species=COMMON + RARE,
                       train_counts=TRAIN, test_counts=TEST)
    adjusted = small_config(tmp, recipe="paper", epochs=8, loss="cross_entropy", posthoc_tau=3.0)
    first = run_and_report(adjusted)
    plain = dataclasses.replace(adjusted,
                                trainer=dataclasses.replace(adjusted.trainer, posthoc_tau=0.0))
    second = run_and_report(plain)
    return adjusted, first, second


def test_first_model_is_pushed_with_its_model_card(runs):
    config, (outputs, versions, printed), _ = runs
    assert outputs["blessed"] and outputs["pushed"]
    assert len(versions) == 1
    card = os.path.join(config.serving_model_dir, versions[0], "assets.extra", "model_card.md")
    with open(card) as handle:
        text = handle.read()
    assert "## Known limits" in text and "Araripe Manakin (4 train" in text
    assert "No baseline" in printed and "bottom_10 %" in printed


def test_candidate_that_gives_up_rare_species_is_not_pushed(runs):
    import tensorflow_model_analysis as tfma
    from pipeline.reports import metrics_table
    config, (_, first_versions, _), (outputs, versions, printed) = runs
    assert not outputs["blessed"] and not outputs["pushed"]
    assert versions == first_versions, "the serving directory must keep only the first model"
    assert "Model NOT pushed" in printed

    table = metrics_table.load(outputs["evaluation"])
    assert metrics_table.model_names(outputs["evaluation"]) == {"candidate": "candidate",
                                                                "baseline": "baseline"}
    # The scenario the blessing is for: better overall, worse on the rarest species.
    assert table["overall"]["accuracy_diff"] > 0
    assert table["frequency_group"]["bottom_10"]["accuracy_diff"] < -config.max_rare_accuracy_drop

    validation = tfma.load_validation_result(outputs["evaluation"])
    assert not validation.validation_ok
    failed = {(tuple((k.column, k.bytes_value.decode()) for k in s.slice_key.single_slice_keys),
               f.metric_key.name)
              for s in validation.metric_validations_per_slice for f in s.failures}
    assert ((("frequency_group", "bottom_10"),), "accuracy") in failed
    # Nothing else failed (macro-F1 may or may not have fallen by more than the tolerance).
    assert failed <= {((("frequency_group", "bottom_10"),), "accuracy"), ((), "macro_f1")}


def test_second_run_reuses_ingestion_and_transform(runs):
    config = runs[0]
    assert executions(config, "ImageExampleGen") == ["COMPLETE", "CACHED"]
    assert executions(config, "Transform") == ["COMPLETE", "CACHED"]
    assert executions(config, "Trainer") == ["COMPLETE", "COMPLETE"]


def test_report_compares_candidate_and_baseline(runs):
    from pipeline.reports.figures import FIGURES
    from pipeline.reports.rows import ROWS
    config = runs[0]
    folder = config.report_dir
    with open(os.path.join(folder, "metrics.csv")) as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "description", "unit", "examples", "candidate", "baseline"]
    assert [r[0] for r in rows[1:]] == [key for key, _, _ in ROWS]
    bottom_10 = rows[1 + [k for k, _, _ in ROWS].index("bottom_10")]
    assert bottom_10[3] == str(8 * len(RARE))
    assert float(bottom_10[4]) < float(bottom_10[5])  # candidate below baseline

    with open(os.path.join(folder, "per_species.csv")) as handle:
        species = list(csv.DictReader(handle))
    assert {r["species"]: int(r["train_count"]) for r in species} == TRAINED
    assert {r["species"]: int(r["test_count"]) for r in species} == TEST
    with open(os.path.join(folder, "metrics.md")) as handle:
        markdown = handle.read()
    assert "NOT blessed" in markdown and "frequency_group=bottom_10: accuracy" in markdown
    for name in FIGURES:
        with open(os.path.join(folder, name), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
