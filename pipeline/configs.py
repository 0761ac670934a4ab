"""Every setting of a pipeline run, in one place: `PipelineConfig` (with the Trainer's settings
nested as a typed `TrainerConfig`) and the one builder, `make_config`.

Each field's help text is its `rarespecies` flag's help too: pipeline/cli/flags.py generates
the flags from these fields, so a setting is written once. `group` says which commands take
the flag (compile takes the kubeflow group as well).
"""
import dataclasses
import os
from typing import List, Optional

from pipeline.beam import RUNNERS as BEAM_RUNNERS
from schema.features import DEFAULT_RARE_GROUP, RARE_GROUPS, SCHEMA_PATH
from schema.paths import is_remote
from trainer.hparams import RECIPES, TrainerConfig, option

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_FILE = os.path.join(REPO_ROOT, "setup.py")
POLICIES = ("fail", "warn")

# Beam's DirectRunner in this process, one worker; other runners via --beam-runner/--beam-arg.
# Not multi_processing: each worker process imports TensorFlow again. Not multi_threading: it
# once wrote fewer eval examples than it counted (benchmarks/README.md). setup_file ships this
# project to remote workers and stops TFX building a TFX sdist per component.
LOCAL_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1",
                   f"--setup_file={SETUP_FILE}")


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = option("rarespecies", "pipeline name (outputs, metadata, reports)")
    model_name: str = option("rarespecies", "served model name")
    # Input: a folder per species under train/ and test/, or the Kaggle CSV index inside it.
    data_root: str = option("out/data/demo", "folder with train/ and test/ (valid/ optional)")
    csv_index: str = option("", "Kaggle CSV index (filepaths,labels,data set), relative to "
                                "--data-root")
    output_dir: str = option("out", "where everything is written")
    # Validation: the data's valid/ folder, else a seeded, stratified share of train.
    valid_share: float = option(0.1, "without a valid/ folder: the share of each species' train "
                                     "images held out for validation (at least one kept for "
                                     "training)")
    split_seed: int = option(0, "seed that picks the held-out validation images")
    schema_path: str = option(SCHEMA_PATH, "curated schema.pbtxt, or 'infer': write one from "
                                           "the data's train species next to the run's outputs "
                                           "and use it", flag="--schema",
                              shown_default="schema/schema.pbtxt")

    trainer: TrainerConfig = option(TrainerConfig, "", cli=False)

    # Blessing: a model is pushed only if its overall eval accuracy reaches this floor and,
    # against the latest blessed model (the baseline; none on a first run), the accuracy of
    # rare_group and the macro-F1 over species fall by at most these absolute amounts, so a
    # model that gains overall by giving up rare species is not pushed (None: no such check).
    min_accuracy: float = option(0.5, "blessing floor on eval accuracy")
    rare_group: str = option(DEFAULT_RARE_GROUP, "species group whose accuracy may not fall "
                                                 "against the baseline", choices=RARE_GROUPS)
    max_rare_accuracy_drop: Optional[float] = option(
        0.02, "largest absolute fall of the rare group's accuracy against the latest blessed "
              "model that still blesses (1 turns it off)")
    max_macro_f1_drop: Optional[float] = option(
        0.02, "largest absolute fall of macro-F1 against the latest blessed model that still "
              "blesses (1 turns it off)")

    # Data checks before Transform (components/validation_gate/): "fail" stops the run, "warn"
    # logs and goes on. Drift warns by default: the paper's test split is balanced by design,
    # train is not.
    on_leakage: str = option("fail", "the same image (sha256) in train and test: stop the run "
                                     "or only warn", choices=POLICIES)
    on_drift: str = option("warn", "test's species distribution far from train's: stop the "
                                   "run or only warn", choices=POLICIES)
    max_species_drift: float = option(0.1, "largest L-infinity distance between test's and "
                                           "train's species shares that is not drift")
    enable_cache: bool = option(True, "recompute every component instead of reusing unchanged "
                                      "outputs", flag="--no-cache", const=False)

    beam_runner: str = option("DirectRunner", "runner of the Beam-powered components; others "
                                              "need their flags as --beam-arg, e.g. "
                                              "--beam-arg=--project=...", choices=BEAM_RUNNERS)
    beam_args: List[str] = option(lambda: list(LOCAL_BEAM_ARGS),
                                  "a Beam pipeline argument, repeatable (replaces the "
                                  "DirectRunner defaults)", flag="--beam-arg", metavar="ARG")

    # Kubeflow (`rarespecies compile`): the image every step runs in (deploy/Dockerfile), and
    # a pipeline root other than <output_dir>/pipelines/<pipeline_name> (a bucket, a volume).
    image: str = option("gcr.io/YOUR_PROJECT/rarespecies:latest",
                        "the pipeline image every step runs in", group="kubeflow")
    pipeline_root_override: str = option(
        "", "where the steps write their outputs (default <output-dir>/pipelines/<name>): "
            "gs://BUCKET/... or a volume path", flag="--pipeline-root", metavar="PIPELINE_ROOT",
        group="kubeflow")

    @property
    def pipeline_root(self) -> str:
        return self.pipeline_root_override or os.path.join(
            self.output_dir, "pipelines", self.pipeline_name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata", f"{self.pipeline_name}.sqlite")

    @property
    def serving_model_dir(self) -> str:
        return os.path.join(self.output_dir, "serving_model", self.model_name)

    @property
    def report_dir(self) -> str:
        return os.path.join(self.output_dir, "reports", self.pipeline_name)

    def transform_config(self) -> dict:
        return {"image_size": self.trainer.image_size}


# `rarespecies demo` / `make demo`: small images and few epochs so that the whole pipeline
# runs in minutes on 2 cores. The backbone starts from random weights (nothing is downloaded),
# hence a floor of 3x chance (20 species) and, for every recipe, a larger learning rate than
# the paper's 1e-4 (meant for ImageNet weights).
DEMO_OVERRIDES = dict(image_size=64, epochs=15, weights="none", learning_rate=1e-3,
                      min_accuracy=0.15)

PIPELINE_FIELDS = tuple(f.name for f in dataclasses.fields(PipelineConfig) if f.name != "trainer")
TRAINER_FIELDS = tuple(f.name for f in dataclasses.fields(TrainerConfig))


def make_config(overrides: Optional[dict] = None, demo: bool = False) -> PipelineConfig:
    """The one way a config is built: the defaults, then the recipe's values (`recipe`, default
    longtail), then the demo's, then `overrides` (flat field names of PipelineConfig and
    TrainerConfig; None values keep what is there)."""
    explicit = {k: v for k, v in (overrides or {}).items() if v is not None}
    recipe = explicit.get("recipe", TrainerConfig.recipe)
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    values = dict(RECIPES[recipe], recipe=recipe)
    if demo:
        values.update(DEMO_OVERRIDES)
    values.update(explicit)
    unknown = set(values) - set(PIPELINE_FIELDS) - set(TRAINER_FIELDS)
    if unknown:
        raise ValueError(f"unknown config field(s): {sorted(unknown)}")
    trainer = TrainerConfig(**{k: v for k, v in values.items() if k in TRAINER_FIELDS})
    return PipelineConfig(trainer=trainer,
                          **{k: v for k, v in values.items() if k in PIPELINE_FIELDS})


def check_paths(config: PipelineConfig, check_schema: bool = True) -> None:
    """Raises ValueError naming the first path in `config` that cannot work: a data root that
    is missing or not a folder, a missing CSV index or schema file, an output folder inside the
    data root (its files would sit among the images). Remote paths are left to the runner."""
    def inside(child, parent):
        child, parent = os.path.realpath(child), os.path.realpath(parent)
        return os.path.commonpath([child, parent]) == parent

    if not is_remote(config.data_root):
        if not os.path.exists(config.data_root):
            raise ValueError(f"data root {config.data_root!r} does not exist")
        if not os.path.isdir(config.data_root):
            raise ValueError(f"data root {config.data_root!r} is not a folder")
        if config.csv_index and not os.path.isfile(os.path.join(config.data_root,
                                                                config.csv_index)):
            raise ValueError(f"CSV index {config.csv_index!r} is not a file in the data root "
                             f"{config.data_root!r}")
        if not is_remote(config.output_dir) and inside(config.output_dir, config.data_root):
            raise ValueError(f"output folder {config.output_dir!r} is inside the data root "
                             f"{config.data_root!r}: choose one outside it")
    if check_schema and not is_remote(config.schema_path) and not os.path.isfile(
            config.schema_path):
        raise ValueError(f"schema file {config.schema_path!r} does not exist")
    if not is_remote(config.output_dir) and os.path.exists(config.output_dir) and not \
            os.path.isdir(config.output_dir):
        raise ValueError(f"output folder {config.output_dir!r} is a file")
    for name, value in (("on_leakage", config.on_leakage), ("on_drift", config.on_drift)):
        if value not in POLICIES:
            raise ValueError(f"{name} must be 'fail' or 'warn', got {value!r}")
