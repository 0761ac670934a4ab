"""pipeline/cli/flags.py: flags generated from the config's fields, and the one config builder."""
import argparse
import dataclasses
import os

import pytest

from pipeline.cli import flags
from pipeline.configs import DEMO_OVERRIDES, PipelineConfig, make_config
from trainer.hparams import RECIPES, TrainerConfig


def parse(*argv, groups=(flags.MAIN_GROUP,)):
    parser = argparse.ArgumentParser()
    flags.add_config_flags(parser, groups)
    return parser.parse_args(list(argv))


def test_every_setting_has_a_flag_and_no_flag_is_given_by_default():
    args = parse()
    names = {f.name for f in dataclasses.fields(PipelineConfig)} - {"trainer"}
    names |= {f.name for f in dataclasses.fields(TrainerConfig)}
    kubeflow_only = {"image", "pipeline_root_override"}
    without_flag = {"feature_cache_dir"}
    assert set(vars(args)) == names - kubeflow_only - without_flag
    assert flags.given_fields(args) == set()
    assert set(vars(parse(groups=(flags.MAIN_GROUP, "kubeflow")))) == names - without_flag


def test_flags_reach_both_configs_with_their_types():
    args = parse("--epochs", "3", "--learning-rate", "0.01", "--loss", "logit_adjusted",
                 "--no-augment", "--min-accuracy", "0.3", "--no-cache", "--schema", "s.pbtxt",
                 "--beam-arg=--a", "--beam-arg=--b")
    config = flags.config_from_args(args)
    assert (config.trainer.epochs, config.trainer.learning_rate) == (3, 0.01)
    assert config.trainer.loss == "logit_adjusted" and config.trainer.augmentation == "none"
    assert (config.min_accuracy, config.enable_cache) == (0.3, False)
    assert config.schema_path == os.path.abspath("s.pbtxt")
    assert config.beam_args == ["--a", "--b"]


def test_defaults_come_from_the_config_and_the_demo():
    config = flags.config_from_args(parse())
    assert config == dataclasses.replace(
        make_config(), data_root=os.path.abspath("out/data/demo"),
        output_dir=os.path.abspath("out"), schema_path=config.schema_path)
    demo = flags.config_from_args(parse("--epochs", "2"), demo=True)
    assert demo.trainer.image_size == DEMO_OVERRIDES["image_size"]
    assert demo.trainer.weights == "none"  # the demo downloads nothing
    assert demo.trainer.epochs == 2  # an explicit flag beats the demo's value
    # Random initial weights: the same larger learning rate for every recipe.
    for recipe in RECIPES:
        trainer = flags.config_from_args(parse("--recipe", recipe), demo=True).trainer
        assert trainer.learning_rate == 1e-3 and trainer.recipe == recipe


def test_the_default_recipe_is_longtail_and_the_paper_recipe_is_the_papers_settings():
    longtail = flags.config_from_args(parse()).trainer
    assert longtail.recipe == "longtail"
    assert {k: getattr(longtail, k) for k in RECIPES["longtail"]} == RECIPES["longtail"]
    paper = flags.config_from_args(parse("--recipe", "paper")).trainer
    assert paper == TrainerConfig(recipe="paper")  # every value the paper's
    assert (paper.optimizer, paper.learning_rate, paper.batch_size, paper.epochs,
            paper.sampling, paper.loss, paper.alpha, paper.gamma) == (
        "adam", 1e-4, 32, 20, "natural", "sigmoid_focal", 0.25, 2.0)


@pytest.mark.parametrize("argv, field, value", [
    (["--recipe", "paper", "--loss", "cross_entropy"], "loss", "cross_entropy"),
    (["--sampling", "sqrt"], "sampling", "sqrt"),
    (["--average-last", "0"], "average_last", 0.0),
    (["--restore-best"], "restore_best", True),
    (["--recipe", "paper", "--restore-best"], "restore_best", True),
    (["--classifier-retrain-epochs", "0"], "classifier_retrain_epochs", 0),
    (["--learning-rate", "0.003"], "learning_rate", 0.003),
    (["--batch-size", "32"], "batch_size", 32),
])
def test_explicit_flags_override_the_recipe(argv, field, value):
    assert getattr(flags.config_from_args(parse(*argv)).trainer, field) == value
    # and the demo's values too
    assert getattr(flags.config_from_args(parse(*argv), demo=True).trainer, field) == value


def test_choices_come_from_the_contract():
    with pytest.raises(SystemExit):
        parse("--rare-group", "top_5")
    with pytest.raises(SystemExit):
        parse("--loss", "focal")


def test_make_config_names_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown config field\(s\): \['epoch'\]"):
        make_config({"epoch": 3})


@pytest.mark.parametrize("command", [["run"], ["sweep"],
                                     ["compile", "--engine", "kubeflow", "--output", "p.yaml"]])
def test_a_share_of_the_epochs_out_of_range_is_a_usage_error_not_a_traceback(command, capsys):
    from pipeline import cli
    with pytest.raises(SystemExit) as exit_info:
        cli.main(command + ["--average-last", "1.5"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().endswith(
        "error: --average-last is a share of the epochs, from 0 to 1, not 1.5")
    with pytest.raises(ValueError, match="--resample-last is a share of the epochs"):
        TrainerConfig(resample_last=-0.5)
    with pytest.raises(ValueError, match="--species-quota is a number of images, 0 or more"):
        TrainerConfig(species_quota=-1)
