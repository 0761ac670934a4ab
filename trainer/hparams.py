"""The Trainer's settings as one typed object, `TrainerConfig`.

The pipeline builds it (pipeline/configs.py), TFX carries it as the Trainer's `custom_config`
(plain JSON), and run_fn reads it back with `TrainerConfig.from_custom_config`, which checks
every key and type. Each field's help text is also its `rarespecies` flag's help: the CLI
generates its flags from these fields (pipeline/cli/flags.py). No TensorFlow here.
"""
import dataclasses
import typing
from typing import Any, Dict

# The training losses (trainer/losses.py builds them) and the parameters each one reads.
LOSS_PARAMETERS = {
    "cross_entropy": (),
    "sigmoid_focal": ("alpha", "gamma"),
    "softmax_focal": ("alpha", "gamma"),
    "class_balanced_focal": ("beta", "gamma"),
    "logit_adjusted": ("tau",),
}
LOSSES = tuple(LOSS_PARAMETERS)
BACKBONES = ("full", "frozen")
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine")
# auto: flip_crop or crop, as trainer/mirror_check.py finds on the data before training.
AUGMENTATIONS = ("auto", "flip_crop", "crop", "strong", "none")
# trainer/sampling.py draws each; auto: quota where the species average at least the species
# quota's images, else balanced (trainer/sampling.py's resolve, from the train counts).
SAMPLING = ("auto", "natural", "sqrt", "balanced", "quota")

# Training recipes: values over TrainerConfig's defaults (the paper's); explicit flags override
# them. Why each value: README, "The long-tail recipe"; the measurements: benchmarks/README.md.
RECIPES = {
    # The paper's setup, exactly: Adam at a constant rate, natural sampling, flips and crops,
    # the loss from --loss (default its sigmoid focal loss), the last epoch's weights.
    "paper": {},
    # Cross-entropy on class-aware batches (auto sampling: MEWC's per-species quota where the
    # species average at least the quota's images, as field data do; class-balanced on small
    # sets, where a quota would draw almost every species equally anyway), the mean of the last
    # quarter of the epochs' weights (a small validation split picked worse single epochs), then
    # a classifier re-trained on balanced batches, of the train and validation images (where a
    # validation folder gives rare species more images than train has; validation scored out of
    # fold), and prototype scores, kept where validation says, and a post-hoc adjustment fitted
    # on validation (a negative tau gives back the common species what class-aware sampling
    # took), or Menon et al.'s tau 1 where validation lacks species that train has and so cannot
    # judge the adjustment for them. Same optimiser, rate and augmentation as the paper: AdamW,
    # cosine decay and stronger crops lost in the measurements. Batches of 16 and a quota of 64
    # images per species an epoch: more steps, which small data needed most (on larger sets the
    # quota adds only the rare species' extra draws). The paper's flips and crops, the flip left
    # out where the data show that a mirror image changes the class (augmentation auto).
    "longtail": dict(
        loss="cross_entropy", sampling="auto", batch_size=16, species_quota=64,
        average_last=0.25, classifier_retrain_epochs=10, validation_classifier=True,
        prototypes=True, fit_posthoc=True, posthoc_tau=1.0, calibrate=True,
        augmentation="auto"),
}


# Keys of the Trainer's custom_config that belong to TFX's Vertex AI Trainer extension (the
# multi-worker job, pipeline/vertex_training.py); TFX hands them to run_fn with the settings.
PLATFORM_KEY_PREFIX = "ai_platform_"


def option(default, help: str, **cli) -> Any:
    """A config field with its command-line flag: `help` is the flag's help; `cli` may set
    `flag` (the flag's name; default --field-name), `choices`, `metavar`, `const` (a flag that
    stores this value, e.g. --no-augment), `shown_default` (the default as the help shows it),
    `group` (which commands take the flag) or `cli=False` (no flag)."""
    factory = dict(default_factory=default) if callable(default) else dict(default=default)
    return dataclasses.field(metadata=dict(help=help, **cli), **factory)


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Every Trainer setting. The defaults are the paper's (Schneider's head on MobileNetV2, Adam
    1e-4, batch 32, 224 px, 20 epochs, its focal loss, natural sampling); a recipe (RECIPES,
    --recipe) changes some of them, and explicit flags change any."""
    recipe: str = option("longtail", "training recipe: longtail (the recommended long-tail "
                                     "setup) or paper (the paper's exact settings); explicit "
                                     "flags override its values", choices=tuple(RECIPES))
    image_size: int = option(224, "pixels a side")
    width: float = option(1.0, "MobileNetV2 width multiplier")
    weights: str = option("imagenet", "none | imagenet (Keras' cache; downloaded when missing "
                                      "unless --offline) | PATH to an .h5 file")
    backbone: str = option("full", "fine-tune all, or train the head only", choices=BACKBONES)
    loss: str = option("sigmoid_focal", "training loss", choices=LOSSES)
    alpha: float = option(0.25, "focal alpha")
    gamma: float = option(2.0, "focal gamma")
    beta: float = option(0.999, "class-balanced beta")
    tau: float = option(1.0, "logit adjustment tau (the logit_adjusted loss)")
    posthoc_tau: float = option(0.0, "post-hoc logit adjustment in the exported model (0: off; "
                                     "--fit-posthoc fits it on the validation split instead, "
                                     "where that split has every species)")
    epochs: int = option(20, "training epochs")
    batch_size: int = option(32, "images per step")
    learning_rate: float = option(1e-4, "learning rate (the peak of the schedule)")
    optimizer: str = option("adam", "adam, or adamw (decoupled weight decay)",
                            choices=OPTIMIZERS)
    weight_decay: float = option(0.0, "adamw's weight decay")
    lr_schedule: str = option("constant", "learning-rate schedule after the warm-up",
                              choices=LR_SCHEDULES)
    warmup_epochs: float = option(0.0, "epochs of linear learning-rate warm-up")
    seed: int = option(42, "seed of the initial weights, shuffling and augmentation")
    augmentation: str = option("flip_crop", "training-time augmentation: flip_crop (flips and "
                                            "90%% crops), crop (the crops alone, for classes "
                                            "whose mirror image is another or none: digits, "
                                            "letters), auto (flip_crop, or crop where the "
                                            "train and validation images show that a mirror "
                                            "image changes the class), strong (random-resized "
                                            "crops, flips, brightness and contrast) or none",
                               choices=AUGMENTATIONS, aliases={"--no-augment": "none"})
    sampling: str = option("natural", "how often each species is drawn in training: as in "
                                      "the data, square-root, equally, quota (as in the "
                                      "data, species under --species-quota images raised to "
                                      "it), or auto (quota where the species average at "
                                      "least --species-quota train images, else balanced)",
                           choices=SAMPLING)
    species_quota: int = option(0, "an epoch draws at least this many images per species (a "
                                   "per-species quota, as MEWC's): on data with fewer images "
                                   "per species an epoch takes more steps; 0: an epoch is as "
                                   "many images as train has", metavar="N")
    resample_last: float = option(0.0, "share of the epochs, at the end, drawn with "
                                       "--resampling instead (deferred re-sampling; 0: off)")
    resampling: str = option("balanced", "the sampling of the last --resample-last epochs",
                             choices=SAMPLING)
    average_last: float = option(0.0, "share of the epochs, at the end, whose weights are "
                                      "averaged into the model kept (stochastic weight "
                                      "averaging; 0: off, the last epoch's weights; a "
                                      "sweep's fast mode keeps the last epoch's)")
    restore_best: bool = option(False, "keep the weights of the epoch with the best macro-F1 "
                                       "on the validation split (with --average-last: when "
                                       "they score above the average)")
    classifier_retrain_epochs: int = option(0, "a second stage: re-train the classifier layer "
                                               "on class-balanced batches of frozen features "
                                               "for this many epochs (cRT; 0: off)")
    prototypes: bool = option(False, "add nearest-class-mean scores on the model's embedding "
                                     "(exported in the model), weighted as the validation "
                                     "split says")
    validation_classifier: bool = option(False, "re-train the cRT classifier on the train and "
                                                "the validation images (each validation image "
                                                "scored by one re-trained without it)")
    fit_posthoc: bool = option(False, "fit the post-hoc logit adjustment tau (and the "
                                      "prototype weight) on the validation split")
    calibrate: bool = option(False, "fit a temperature on the validation split so that scores "
                                    "read as probabilities (predictions do not change)")
    target_precision: float = option(0.95, "the answers a served model gives as a species (not "
                                           "'unknown') are right this often on the validation "
                                           "split: it sets the abstain threshold")
    warm_start: bool = option(False, "start from the weights of the latest blessed model (TFX's "
                                     "base_model), to retrain as new images arrive; layers "
                                     "whose shape changed (another species list) start afresh")
    offline: bool = option(False, "never download (also RARESPECIES_OFFLINE=1): --weights "
                                  "imagenet must be in Keras' cache")
    cache_gib: float = option(-1.0, "GiB of memory the Trainer may hold decoded images in; "
                                    "data over it are streamed from disk each epoch (-1: a "
                                    "quarter of the machine's memory, or of its container's "
                                    "limit; 0: always stream)", metavar="GIB")
    # A sweep's fast mode (frozen backbone): where the backbone's features are cached, shared
    # by every Trainer of the sweep; empty: no cache.
    feature_cache_dir: str = option("", "", cli=False)

    def __post_init__(self):
        for name in ("average_last", "resample_last"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} is a share of the epochs, from 0 "
                                 f"to 1, not {getattr(self, name)}")
        if self.species_quota < 0:
            raise ValueError(f"--species-quota is a number of images, 0 or more, not "
                             f"{self.species_quota}")

    def to_custom_config(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, values: Dict[str, Any]) -> "TrainerConfig":
        """The config TFX handed to run_fn; raises ValueError on an unknown key or a value of
        the wrong type, naming it."""
        types = typing.get_type_hints(cls)
        values = {k: v for k, v in values.items() if not k.startswith(PLATFORM_KEY_PREFIX)}
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ValueError(f"unknown trainer setting(s) {unknown}")
        checked = {}
        for name, value in values.items():
            kind = types[name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # JSON writes 1.0 as 1
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"trainer setting {name}={value!r} is not a {kind.__name__}")
            checked[name] = value
        return cls(**checked)
