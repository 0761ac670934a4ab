"""`rarespecies sweep`'s configurations: the paper's Table II columns and any added loss, each
trained with every seed from the same initial weights (the same seed, as the paper reset its
model). pipeline.create_sweep_pipeline builds the pipeline from them, and
pipeline/reports/table2.py tabulates the results.
"""
import dataclasses
import os
import re
from typing import List, Sequence, Tuple

from pipeline.configs import PipelineConfig
from pipeline.data.paper import TABLE_II_COLUMNS
from trainer.hparams import LOSS_PARAMETERS, TrainerConfig

# Every parameter some loss reads, plus the post-hoc adjustment any model can have.
LOSS_PARAMS = tuple(sorted({p for params in LOSS_PARAMETERS.values() for p in params})) + (
    "posthoc_tau",)


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str          # the table's column
    loss: str
    params: tuple = ()  # ((name, value), ...) overriding the config's loss parameters

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", self.label).strip("_")


def paper_variants() -> List[Variant]:
    """Cross-entropy and Table II's five (alpha, gamma) pairs, labelled as in the paper."""
    return [Variant(label, loss, () if alpha is None else (("alpha", alpha), ("gamma", gamma)))
            for label, loss, alpha, gamma in TABLE_II_COLUMNS]


def parse_variant(spec: str) -> Variant:
    """A Table II label ('CE', 'a.25 g2', ...), 'LOSS' or 'LOSS:name=value,...', e.g.
    'class_balanced_focal:beta=0.999,gamma=1'."""
    paper = {variant.label: variant for variant in paper_variants()}
    if spec in paper:
        return paper[spec]
    loss, _, rest = spec.partition(":")
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


def seeds(config: PipelineConfig, repeats: int) -> List[int]:
    return [config.trainer.seed + i for i in range(repeats)]


def component_suffix(variant: Variant, seed: int) -> str:
    """The Trainer's and Evaluator's id suffix: Trainer.<suffix>, Evaluator.<suffix>."""
    return f"{variant.slug}.seed{seed}"


def trainer_config(config: PipelineConfig, variant: Variant, seed: int) -> TrainerConfig:
    values = dict(loss=variant.loss, seed=seed, **dict(variant.params))
    if config.trainer.backbone == "frozen":
        # Shared by every Trainer of the sweep: features computed once per backbone.
        values["feature_cache_dir"] = os.path.join(config.pipeline_root, "FeatureCache")
    return dataclasses.replace(config.trainer, **values)


def trainers(config: PipelineConfig, variants: Sequence[Variant],
             seed_list: Sequence[int]) -> List[Tuple[str, TrainerConfig]]:
    """(component id suffix, trainer config) of every (variant, seed), for
    pipeline.create_sweep_pipeline."""
    return [(component_suffix(variant, seed), trainer_config(config, variant, seed))
            for variant in variants for seed in seed_list]
