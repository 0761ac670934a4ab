"""Every default of the pipeline, in one place. The CLI overrides fields; nothing else does."""
import dataclasses
import os
from typing import List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(REPO_ROOT, "schema", "schema.pbtxt")


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = "rarespecies"
    model_name: str = "rarespecies"
    # Input: a folder per species under train/ and test/, or the Kaggle CSV index inside it.
    data_root: str = "out/data/demo"
    csv_index: str = ""
    output_dir: str = "out"
    schema_path: str = SCHEMA_PATH

    # Model and training: the paper's settings (Schneider's head on MobileNetV2, Adam 1e-4,
    # batch 32, 224 px, 20 epochs) with the paper's loss.
    image_size: int = 224
    width: float = 1.0            # MobileNetV2 alpha (width multiplier)
    weights: str = "none"         # none | imagenet | path to an .h5 file
    backbone: str = "full"        # full (fine-tune everything) | frozen (train the head only)
    loss: str = "sigmoid_focal"
    alpha: float = 0.25
    gamma: float = 2.0
    beta: float = 0.999           # class_balanced_focal
    tau: float = 1.0              # logit_adjusted
    posthoc_tau: float = 0.0      # post-hoc logit adjustment in the exported model (0: off)
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-4
    seed: int = 42
    augment: bool = True

    # Blessing: a model is pushed only if its overall eval accuracy reaches this floor and,
    # against the latest blessed model (the baseline; none on a first run), the accuracy of
    # rare_group and the macro-F1 over species fall by at most these absolute amounts, so a
    # model that gains overall by giving up rare species is not pushed (None: no such check).
    min_accuracy: float = 0.5
    rare_group: str = "bottom_10"
    max_rare_accuracy_drop: Optional[float] = 0.02
    max_macro_f1_drop: Optional[float] = 0.02

    # Data checks before Transform (components/validation_gate.py): "fail" stops the run,
    # "warn" logs and goes on. Leakage: the same image (sha256) in train and eval. Drift: the
    # L-infinity distance between eval's and train's species shares over max_species_drift
    # (warn by default: the paper's test split is balanced by design, train is not).
    on_leakage: str = "fail"
    on_drift: str = "warn"
    max_species_drift: float = 0.1

    # Beam's DirectRunner in this process, one worker; other runners via beam_args. Not
    # multi_processing: each worker process imports TensorFlow again, which made the demo's
    # Beam components 2-3x slower. Not multi_threading: it was as fast, but once wrote 674 of
    # 677 eval examples (benchmarks/README.md). setup_file ships this project to remote
    # workers; it also stops TFX from building a tfx sdist per component.
    beam_args: List[str] = dataclasses.field(default_factory=lambda: [
        "--direct_running_mode=in_memory", "--direct_num_workers=1",
        f"--setup_file={os.path.join(REPO_ROOT, 'setup.py')}"])
    enable_cache: bool = True

    # Kubeflow (`rarespecies compile`): the image every step runs in (deploy/Dockerfile), and
    # a pipeline root other than <output_dir>/pipelines/<pipeline_name> (a bucket, a volume).
    image: str = "gcr.io/YOUR_PROJECT/rarespecies:latest"
    pipeline_root_override: str = ""

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
        return {"image_size": self.image_size}

    def trainer_config(self) -> dict:
        keys = ("image_size", "width", "weights", "backbone", "loss", "alpha", "gamma", "beta",
                "tau", "posthoc_tau", "epochs", "batch_size", "learning_rate", "seed", "augment")
        return {key: getattr(self, key) for key in keys}


# `rarespecies demo` / `make demo`: small images and few epochs so that the whole pipeline
# runs in minutes on 2 cores. The backbone starts from random weights (nothing is downloaded),
# hence the larger learning rate and a floor of 3x chance (20 species): from scratch on 1,811
# images MobileNetV2 reaches only ~0.3-0.4 accuracy in this budget (README, "Results").
DEMO_OVERRIDES = dict(image_size=64, epochs=15, learning_rate=1e-3, min_accuracy=0.15)


def check_paths(config: PipelineConfig) -> None:
    """Raises ValueError naming the first path in `config` that cannot work: a data root that
    is missing or not a folder, a missing CSV index or schema file, an output folder inside the
    data root (its files would sit among the images). Remote (`scheme://`) paths are left to
    the runner."""
    def local(path):
        return "://" not in path

    def inside(child, parent):
        child, parent = os.path.realpath(child), os.path.realpath(parent)
        return os.path.commonpath([child, parent]) == parent

    if local(config.data_root):
        if not os.path.exists(config.data_root):
            raise ValueError(f"data root {config.data_root!r} does not exist")
        if not os.path.isdir(config.data_root):
            raise ValueError(f"data root {config.data_root!r} is not a folder")
        if config.csv_index and not os.path.isfile(os.path.join(config.data_root,
                                                                config.csv_index)):
            raise ValueError(f"CSV index {config.csv_index!r} is not a file in the data root "
                             f"{config.data_root!r}")
        if local(config.output_dir) and inside(config.output_dir, config.data_root):
            raise ValueError(f"output folder {config.output_dir!r} is inside the data root "
                             f"{config.data_root!r}: choose one outside it")
    if local(config.schema_path) and not os.path.isfile(config.schema_path):
        raise ValueError(f"schema file {config.schema_path!r} does not exist")
    if local(config.output_dir) and os.path.exists(config.output_dir) and not os.path.isdir(
            config.output_dir):
        raise ValueError(f"output folder {config.output_dir!r} is a file")
    for name, value in (("on_leakage", config.on_leakage), ("on_drift", config.on_drift)):
        if value not in ("fail", "warn"):
            raise ValueError(f"{name} must be 'fail' or 'warn', got {value!r}")


def make_config(overrides: Optional[dict] = None, demo: bool = False) -> PipelineConfig:
    values = dict(DEMO_OVERRIDES) if demo else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = set(values) - {f.name for f in dataclasses.fields(PipelineConfig)}
    if unknown:
        raise ValueError(f"unknown config field(s): {sorted(unknown)}")
    return PipelineConfig(**values)
