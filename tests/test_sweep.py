"""The Table II sweep: configurations, statistics over seeds, the table, and one small real run."""
import csv
import dataclasses
import functools
import io
import os

import pytest

from pipeline import sweep
from pipeline.configs import make_config


def test_paper_variants_are_table_two():
    variants = sweep.paper_variants()
    assert [v.label for v in variants] == ["CE", "a.25 g1", "a.25 g2", "a.25 g5", "a.5 g.5", "a.5 g1"]
    assert variants[0] == sweep.Variant("CE", "cross_entropy", ())
    assert dict(variants[4].params) == {"alpha": 0.5, "gamma": 0.5}
    assert len({v.slug for v in variants}) == 6  # component ids stay distinct


def test_parse_variant():
    assert sweep.parse_variant("logit_adjusted") == sweep.Variant("logit_adjusted", "logit_adjusted")
    v = sweep.parse_variant("class_balanced_focal:beta=0.99,gamma=1")
    assert v.loss == "class_balanced_focal" and dict(v.params) == {"beta": 0.99, "gamma": 1.0}
    assert sweep.parse_variant("a.25 g2") == sweep.paper_variants()[2]  # a Table II label
    with pytest.raises(ValueError, match="bad loss parameter 'lr=1'"):
        sweep.parse_variant("cross_entropy:lr=1")


def test_trainer_config_per_variant_and_seed(tmp_path):
    config = make_config(dict(output_dir=str(tmp_path), backbone="frozen", alpha=0.25))
    values = sweep.trainer_config(config, sweep.parse_variant("sigmoid_focal:alpha=0.5"), seed=7)
    assert (values["loss"], values["alpha"], values["seed"]) == ("sigmoid_focal", 0.5, 7)
    assert values["feature_cache_dir"] == os.path.join(config.pipeline_root, "FeatureCache")
    full = sweep.trainer_config(dataclasses.replace(config, backbone="full"),
                                sweep.paper_variants()[0], seed=7)
    assert "feature_cache_dir" not in full


def table(accuracy, bottom_2, f1):
    return {"overall": {"accuracy": accuracy, "macro_f1": f1, "balanced_accuracy": accuracy},
            "frequency_group": {"bottom_2": {"accuracy": bottom_2}}}


def test_summary_mean_and_std_over_seeds():
    summary = sweep.summarise({"CE": [table(0.5, 0.0, 0.4), table(0.7, 0.5, 0.6)],
                               "x": [table(0.6, 0.2, 0.5)]})
    mean, std = summary["CE"]["accuracy"]
    assert mean == pytest.approx(60.0) and std == pytest.approx(14.1421356)  # % units
    assert summary["CE"]["f1"][0] == pytest.approx(0.5)  # F1 stays 0-1
    assert summary["x"]["bottom_2"] == (pytest.approx(20.0), None)  # one seed: no std
    assert summary["x"]["top_5"] == (None, None)  # slice absent


def test_table_has_ours_and_the_papers_columns(tmp_path):
    summary = sweep.summarise({"CE": [table(0.5, 0.0, 0.4), table(0.7, 0.5, 0.6)],
                               "logit_adjusted": [table(0.6, 0.2, 0.5)]})
    paths = sweep.write(summary, str(tmp_path), repeats=2, note="demo")
    text = open(paths["table2.md"]).read()
    assert "| metric | CE (ours) | CE (paper) | logit_adjusted (ours) |" in text
    total = next(line for line in text.splitlines() if line.startswith("| total accuracy"))
    assert total == "| total accuracy | 60.00 ± 14.14 | 81.68 | 60.00 |"
    rows = list(csv.reader(io.StringIO(open(paths["table2.csv"]).read())))
    assert rows[0][:4] == ["metric", "CE", "CE std", "CE paper"]
    assert [r[0] for r in rows[1:]] == list(sweep.TABLE_ROWS)
    assert rows[1][3] == "13.4600"  # the paper's bottom_2 for CE
    assert os.path.getsize(paths["table2.png"]) > 10_000


@pytest.mark.slow
def test_sweep_run_reuses_upstream_and_features(tmp_path):
    from pipeline import demo_data
    from pipeline.run_cli import run_pipeline
    from tests.test_pipeline_e2e import executions, small_config
    species = ["Sora", "Robin", "Araripe Manakin"]
    demo_data.generate(tmp_path / "data", seed=5, image_size=32, species=species,
                       train_counts={"Sora": 12, "Robin": 4, "Araripe Manakin": 2},
                       test_counts={s: 3 for s in species})
    config = small_config(tmp_path, backbone="frozen", epochs=2, pipeline_name="sweep_test")
    variants = [sweep.parse_variant("cross_entropy"), sweep.parse_variant("sigmoid_focal:gamma=1")]
    seed_list = sweep.seeds(config, 2)
    run_pipeline(config, build=functools.partial(sweep.create_sweep_pipeline, variants=variants,
                                                 seed_list=seed_list))

    assert executions(config, "ImageExampleGen") == ["COMPLETE"]  # upstream once
    assert executions(config, "Transform") == ["COMPLETE"]
    assert executions(config, "Trainer") == ["COMPLETE"] * 4
    # Random-init backbone: one feature cache per seed (train and eval), shared by both losses.
    cache = sorted(os.listdir(os.path.join(config.pipeline_root, "FeatureCache")))
    assert len(cache) == 4 and all(name.endswith(".npz") for name in cache)

    summary = sweep.summarise(sweep.collect(config, variants, seed_list))
    assert set(summary) == {"cross_entropy", "sigmoid_focal:gamma=1"}
    for rows in summary.values():
        mean, std = rows["accuracy"]
        assert 0.0 <= mean <= 100.0 and std is not None
