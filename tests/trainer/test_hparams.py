"""trainer/hparams.py: the Trainer's typed config and its trip through TFX's custom_config."""
import json

import pytest

from trainer.hparams import LOSS_PARAMETERS, LOSSES, TrainerConfig


def test_round_trip_through_json_as_tfx_carries_it():
    config = TrainerConfig(image_size=64, loss="logit_adjusted", tau=1.5, augmentation="none",
                           restore_best=True, feature_cache_dir="/cache")
    carried = json.loads(json.dumps(config.to_custom_config()))
    assert TrainerConfig.from_custom_config(carried) == config


def test_json_integers_become_floats_where_the_field_is_a_float():
    config = TrainerConfig.from_custom_config({"learning_rate": 1, "gamma": 0})
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.gamma == 0.0


@pytest.mark.parametrize("values, message", [
    ({"epoch": 3}, r"unknown trainer setting\(s\) \['epoch'\]"),
    ({"epochs": "3"}, "trainer setting epochs='3' is not a int"),
    ({"epochs": True}, "trainer setting epochs=True is not a int"),
    ({"restore_best": 1}, "trainer setting restore_best=1 is not a bool"),
])
def test_wrong_keys_and_types_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig.from_custom_config(values)


def test_every_loss_names_its_parameters_and_they_are_fields():
    fields = set(TrainerConfig.__dataclass_fields__)
    assert set(LOSSES) == set(LOSS_PARAMETERS)
    for params in LOSS_PARAMETERS.values():
        assert set(params) <= fields
