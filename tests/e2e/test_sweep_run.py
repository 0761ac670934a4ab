"""A real sweep (2 loss configurations x 2 seeds, frozen backbone): the upstream runs once and
the backbone's features are computed once per seed."""
import functools
import os

import pytest

from pipeline import sweep
from pipeline.data import demo_data
from pipeline.local_runner import run_pipeline
from pipeline.pipeline import create_sweep_pipeline
from pipeline.reports import table2
from tests.support.pipeline_runs import executions, small_config

pytestmark = pytest.mark.slow


def test_sweep_run_reuses_upstream_and_features(tmp_path):
    species = ["Sora", "Robin", "Araripe Manakin"]
    demo_data.generate(tmp_path / "data", seed=5, image_size=32, species=species,
                       train_counts={"Sora": 12, "Robin": 4, "Araripe Manakin": 2},
                       test_counts={s: 3 for s in species})
    config = small_config(tmp_path, backbone="frozen", epochs=2, pipeline_name="sweep_test")
    variants = [sweep.parse_variant("cross_entropy"), sweep.parse_variant("sigmoid_focal:gamma=1")]
    seed_list = sweep.seeds(config, 2)
    run_pipeline(config, build=functools.partial(
        create_sweep_pipeline, trainers=sweep.trainers(config, variants, seed_list)))

    assert executions(config, "ImageExampleGen") == ["COMPLETE"]  # upstream once
    assert executions(config, "Transform") == ["COMPLETE"]
    assert executions(config, "Trainer") == ["COMPLETE"] * 4
    # Random-init backbone: one feature cache per seed (train and eval), shared by both losses.
    cache = sorted(os.listdir(os.path.join(config.pipeline_root, "FeatureCache")))
    assert len(cache) == 4 and all(name.endswith(".npz") for name in cache)

    summary = table2.summarise(table2.collect(config, variants, seed_list))
    assert set(summary) == {"cross_entropy", "sigmoid_focal:gamma=1"}
    for rows in summary.values():
        mean, std = rows["accuracy"]
        assert 0.0 <= mean <= 100.0 and std is not None
