"""`rarespecies sweep`'s configurations: the paper's Table II columns, the long-tail recipe as
a column of its own, and any added loss, each trained with every seed from the same initial
weights (the same seed, as the paper reset its model). The sweep's own settings (its flags)
are the paper recipe's unless a flag says otherwise; the longtail column applies that recipe's
values over them, except those the user set. pipeline.create_sweep_pipeline builds the
pipeline from them, and pipeline/reports/table2.py tabulates the results.
"""
import dataclasses
import os
import re
import typing
from typing import Any, Iterable, List, Sequence, Tuple

from pipeline.configs import PipelineConfig
from pipeline.data.paper import TABLE_II_COLUMNS
from trainer.hparams import LOSS_PARAMETERS, RECIPES, TrainerConfig

LONGTAIL = "longtail"  # the recipe's column

# Every parameter some loss reads, plus the post-hoc adjustment any model can have.
LOSS_PARAMS = tuple(sorted({p for params in LOSS_PARAMETERS.values() for p in params})) + (
    "posthoc_tau",)


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str          # the table's column
    loss: str           # "" for the recipe's own loss
    params: tuple = ()  # ((name, value), ...) over the config's: loss parameters, or for a
                        # recipe's column, any Trainer setting
    recipe: str = "paper"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", self.label).strip("_")


def paper_variants() -> List[Variant]:
    """Cross-entropy and Table II's five (alpha, gamma) pairs, labelled as in the paper."""
    return [Variant(label, loss, () if alpha is None else (("alpha", alpha), ("gamma", gamma)))
            for label, loss, alpha, gamma in TABLE_II_COLUMNS]


def default_variants() -> List[Variant]:
    """The paper's six columns, then the long-tail recipe's."""
    return paper_variants() + [Variant(LONGTAIL, "", recipe=LONGTAIL)]


def parse_variant(spec: str) -> Variant:
    """A Table II label ('CE', 'a.25 g2', ...), 'LOSS' or 'LOSS:name=value,...', e.g.
    'class_balanced_focal:beta=0.999,gamma=1', or 'RECIPE:name=value,...' with any Trainer
    setting, e.g. 'longtail:sampling=natural' (a column per variant of the recipe, so that
    the validation split chooses between them, as it chooses the best configuration)."""
    known = {variant.label: variant for variant in default_variants()}
    if spec in known:
        return known[spec]
    loss, _, rest = spec.partition(":")
    if loss in RECIPES:
        settings = tuple(trainer_setting(item, spec) for item in filter(None, rest.split(",")))
        return Variant(spec if settings else loss, "", settings, recipe=loss)
    if loss not in LOSS_PARAMETERS:
        raise ValueError(f"unknown loss {loss!r} in {spec!r}; choose one of "
                         f"{', '.join(LOSS_PARAMETERS)} or a Table II label")
    params = []
    for item in filter(None, rest.split(",")):
        name, _, value = item.partition("=")
        if name not in LOSS_PARAMS or not value:
            raise ValueError(f"bad loss parameter {item!r} in {spec!r}; use NAME=VALUE with NAME "
                             f"one of {', '.join(LOSS_PARAMS)}")
        params.append((name, float(value)))
    return Variant(spec if params else loss, loss, tuple(params))


def trainer_setting(item: str, spec: str) -> Tuple[str, Any]:
    """'name=value' -> (name, value of the TrainerConfig field's type), checked against the
    field's choices; ValueError naming `spec` otherwise."""
    name, _, text = item.partition("=")
    # Not the recipe (the column's own) nor the seed (each repeat's).
    fields = {field.name: field for field in dataclasses.fields(TrainerConfig)
              if field.metadata.get("cli", True) and field.name not in ("recipe", "seed")}
    if name not in fields or not text:
        raise ValueError(f"bad setting {item!r} in {spec!r}; use NAME=VALUE with NAME a Trainer "
                         "setting, as its flag without the dashes and with _ for -, e.g. "
                         "sampling=natural or resample_last=0.5")
    kind = typing.get_type_hints(TrainerConfig)[name]
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            value = text.lower() == "true"
        else:
            value = kind(text)
    except ValueError:
        raise ValueError(f"bad setting {item!r} in {spec!r}: {name} takes a "
                         f"value of type {kind.__name__}") from None
    choices = fields[name].metadata.get("choices")
    if choices and value not in choices:
        raise ValueError(f"bad setting {item!r} in {spec!r}; {name} is one of "
                         f"{', '.join(choices)}")
    return name, value


def seeds(config: PipelineConfig, repeats: int) -> List[int]:
    return [config.trainer.seed + i for i in range(repeats)]


def component_suffix(variant: Variant, seed: int) -> str:
    """The Trainer's and Evaluator's id suffix: Trainer.<suffix>, Evaluator.<suffix>."""
    return f"{variant.slug}.seed{seed}"


def trainer_config(config: PipelineConfig, variant: Variant, seed: int,
                   given: Iterable[str] = ()) -> TrainerConfig:
    """The sweep's trainer settings with the variant's loss (or recipe) and the seed; `given`:
    the settings the user set, which a recipe column does not change."""
    values = {k: v for k, v in RECIPES[variant.recipe].items() if k not in set(given)}
    values.update(recipe=variant.recipe, seed=seed, **dict(variant.params))
    if variant.loss:
        values["loss"] = variant.loss
    if config.trainer.backbone == "frozen":
        # Shared by every Trainer of the sweep: features computed once per backbone.
        values["feature_cache_dir"] = os.path.join(config.pipeline_root, "FeatureCache")
    return dataclasses.replace(config.trainer, **values)


def trainers(config: PipelineConfig, variants: Sequence[Variant], seed_list: Sequence[int],
             given: Iterable[str] = ()) -> List[Tuple[str, TrainerConfig]]:
    """(component id suffix, trainer config) of every (variant, seed), for
    pipeline.create_sweep_pipeline."""
    given = set(given)
    return [(component_suffix(variant, seed), trainer_config(config, variant, seed, given))
            for variant in variants for seed in seed_list]
