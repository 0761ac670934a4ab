"""pipeline/sweep.py: the Table II configurations, and a trainer config per configuration
and seed."""
import dataclasses
import os

import pytest

from pipeline import sweep
from pipeline.configs import make_config
from trainer.hparams import RECIPES


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
    assert (values.loss, values.alpha, values.seed) == ("sigmoid_focal", 0.5, 7)
    assert values.feature_cache_dir == os.path.join(config.pipeline_root, "FeatureCache")
    full_backbone = dataclasses.replace(config, trainer=dataclasses.replace(config.trainer,
                                                                          backbone="full"))
    full = sweep.trainer_config(full_backbone, sweep.paper_variants()[0], seed=7)
    assert full.loss == "cross_entropy" and full.feature_cache_dir == ""
    suffixes = [suffix for suffix, _ in sweep.trainers(config, sweep.paper_variants()[:2], [1, 2])]
    assert suffixes == ["CE.seed1", "CE.seed2", "a_25_g1.seed1", "a_25_g1.seed2"]


def test_unknown_loss_is_refused_when_parsed():
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        sweep.parse_variant("focal:gamma=2")


def test_the_default_columns_are_the_papers_and_the_longtail_recipe(tmp_path):
    variants = sweep.default_variants()
    assert [v.label for v in variants][-1] == "longtail"
    assert sweep.parse_variant("longtail") == variants[-1]
    # The sweep's own settings: the paper recipe, a flag that the user gave.
    config = make_config(dict(output_dir=str(tmp_path), recipe="paper", epochs=7,
                              sampling="sqrt"))
    longtail = sweep.trainer_config(config, variants[-1], seed=3, given={"epochs", "sampling"})
    assert longtail.recipe == "longtail" and longtail.seed == 3
    assert longtail.epochs == 7 and longtail.sampling == "sqrt"  # the user's, kept
    for name, value in RECIPES["longtail"].items():
        if name != "sampling":
            assert getattr(longtail, name) == value, name
    ce = sweep.trainer_config(config, variants[0], seed=3, given={"epochs", "sampling"})
    assert (ce.recipe, ce.loss, ce.sampling, ce.restore_best) == ("paper", "cross_entropy",
                                                                  "sqrt", False)


def test_a_recipe_column_with_settings_of_its_own(tmp_path):
    variant = sweep.parse_variant("longtail:sampling=natural,resample_last=0.5,prototypes=false")
    assert (variant.recipe, variant.loss) == ("longtail", "")
    assert dict(variant.params) == {"sampling": "natural", "resample_last": 0.5,
                                    "prototypes": False}
    assert variant.slug == "longtail_sampling_natural_resample_last_0_5_prototypes_false"
    # Its settings win over the recipe's and over the sweep's flags; the rest is the recipe's.
    config = make_config(dict(output_dir=str(tmp_path), recipe="paper", sampling="sqrt",
                              epochs=7))
    values = sweep.trainer_config(config, variant, seed=5, given={"sampling", "epochs"})
    assert (values.sampling, values.resample_last, values.prototypes) == ("natural", 0.5, False)
    assert (values.recipe, values.seed, values.epochs) == ("longtail", 5, 7)
    assert values.batch_size == RECIPES["longtail"]["batch_size"]
    assert values.loss == RECIPES["longtail"]["loss"]
    assert sweep.parse_variant("paper:epochs=3").params == (("epochs", 3),)


@pytest.mark.parametrize("spec, message", [
    ("longtail:sampling=natura", "sampling is one of auto, natural, sqrt, balanced"),
    ("longtail:epochs=two", "epochs takes a value of type int"),
    ("longtail:prototypes=maybe", "prototypes takes a value of type bool"),
    ("longtail:seed=3", "bad setting 'seed=3'"),  # each repeat's own
    ("longtail:feature_cache_dir=/x", "bad setting 'feature_cache_dir=/x'"),  # not a flag
    ("longtail:sampling", "bad setting 'sampling'"),
])
def test_a_bad_recipe_setting_is_refused_when_parsed(spec, message):
    with pytest.raises(ValueError, match=message):
        sweep.parse_variant(spec)
