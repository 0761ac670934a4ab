"""The one config builder of the command line: flags generated from the config's fields
(pipeline/configs.py, trainer/hparams.py; the help text sits next to each field), and
`config_from_args`, which turns parsed flags into a PipelineConfig with configs.make_config."""
import argparse
import dataclasses
import os
import typing
from typing import Iterable, Set

from pipeline.configs import PIPELINE_FIELDS, TRAINER_FIELDS, PipelineConfig, make_config
from pipeline.dataset_schema import INFER
from schema.paths import is_remote
from trainer.hparams import RECIPES, TrainerConfig

MAIN_GROUP = "main"


class SettingsError(ValueError):
    """Flags whose values cannot go together or out of range: `rarespecies` prints the message
    as argparse prints its own errors (exit status 2)."""


def _fields():
    """(field, owner class) in the order of the help text: the pipeline's fields, with the
    Trainer's in place of the nested `trainer` field."""
    for field in dataclasses.fields(PipelineConfig):
        if field.name == "trainer":
            yield from ((f, TrainerConfig) for f in dataclasses.fields(TrainerConfig))
        else:
            yield field, PipelineConfig


def _value_type(owner, field):
    kind = typing.get_type_hints(owner)[field.name]
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if typing.get_origin(kind) is typing.Union else kind


def add_config_flags(parser: argparse.ArgumentParser, groups: Iterable[str] = (MAIN_GROUP,)):
    """A flag per config field of `groups`. Every flag defaults to None ("not given"), so
    config_from_args keeps the config's (or a recipe's) value unless the flag was given."""
    defaults = PipelineConfig()
    for field, owner in _fields():
        meta = field.metadata
        if meta.get("cli") is False or meta.get("group", MAIN_GROUP) not in groups:
            continue
        flag = meta.get("flag") or "--" + field.name.replace("_", "-")
        kwargs = dict(dest=field.name, help=meta["help"], default=None)
        for alias, const in meta.get("aliases", {}).items():
            parser.add_argument(alias, dest=field.name, action="store_const", const=const,
                                default=None, help=f"the same as {flag} {const}")
        if "const" in meta:
            kwargs.update(action="store_const", const=meta["const"])
        elif _value_type(owner, field) is bool:
            kwargs.update(action=argparse.BooleanOptionalAction)
        elif typing.get_origin(_value_type(owner, field)) in (list, typing.List):
            kwargs.update(action="append", metavar=meta.get("metavar"))
        else:
            kwargs.update(type=_value_type(owner, field), choices=meta.get("choices"),
                          metavar=meta.get("metavar"))
            default = meta.get("shown_default", getattr(
                defaults.trainer if owner is TrainerConfig else defaults, field.name))
            if owner is TrainerConfig and any(field.name in v for v in RECIPES.values()):
                kwargs["help"] += " (" + "; ".join(
                    f"{name}: {values.get(field.name, default)}"
                    for name, values in RECIPES.items()) + ")"
            elif default not in ("", None):
                kwargs["help"] += f" (default {default})"
        parser.add_argument(flag, **kwargs)


def given_fields(args: argparse.Namespace) -> Set[str]:
    """The config fields whose flags were given on the command line."""
    return {name for name in PIPELINE_FIELDS + TRAINER_FIELDS
            if getattr(args, name, None) is not None}


def config_from_args(args: argparse.Namespace, demo: bool = False,
                     absolute_paths: bool = True) -> PipelineConfig:
    """The PipelineConfig of parsed flags (the demo's defaults first when `demo`). Local paths
    become absolute: TFX records them in ML Metadata and Beam workers resolve them elsewhere."""
    try:
        config = make_config({name: getattr(args, name) for name in given_fields(args)},
                             demo=demo)
    except ValueError as err:
        raise SettingsError(str(err)) from None
    if absolute_paths:
        for field in ("output_dir", "data_root", "schema_path"):
            if not is_remote(getattr(config, field)) and getattr(config, field) != INFER:
                setattr(config, field, os.path.abspath(getattr(config, field)))
    return config
