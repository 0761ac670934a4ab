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


def option(default, help: str, **cli) -> Any:
    """A config field with its command-line flag: `help` is the flag's help; `cli` may set
    `flag` (the flag's name; default --field-name), `choices`, `metavar`, `const` (a flag that
    stores this value, e.g. --no-augment), `shown_default` (the default as the help shows it),
    `group` (which commands take the flag) or `cli=False` (no flag)."""
    factory = dict(default_factory=default) if callable(default) else dict(default=default)
    return dataclasses.field(metadata=dict(help=help, **cli), **factory)


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """The paper's settings: Schneider's head on MobileNetV2, Adam 1e-4, batch 32, 224 px,
    20 epochs, the paper's focal loss."""
    image_size: int = option(224, "pixels a side")
    width: float = option(1.0, "MobileNetV2 width multiplier")
    weights: str = option("none", "none | imagenet (from Keras' cache) | PATH to .h5")
    backbone: str = option("full", "fine-tune all, or train the head only", choices=BACKBONES)
    loss: str = option("sigmoid_focal", "training loss", choices=LOSSES)
    alpha: float = option(0.25, "focal alpha")
    gamma: float = option(2.0, "focal gamma")
    beta: float = option(0.999, "class-balanced beta")
    tau: float = option(1.0, "logit adjustment tau")
    posthoc_tau: float = option(0.0, "post-hoc logit adjustment in the exported model (0: off)")
    epochs: int = option(20, "training epochs")
    batch_size: int = option(32, "images per step")
    learning_rate: float = option(1e-4, "Adam's learning rate")
    seed: int = option(42, "seed of the initial weights, shuffling and augmentation")
    augment: bool = option(True, "turn off training-time flips and crops",
                           flag="--no-augment", const=False)
    # A sweep's fast mode (frozen backbone): where the backbone's features are cached, shared
    # by every Trainer of the sweep; empty: no cache.
    feature_cache_dir: str = option("", "", cli=False)

    def to_custom_config(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, values: Dict[str, Any]) -> "TrainerConfig":
        """The config TFX handed to run_fn; raises ValueError on an unknown key or a value of
        the wrong type, naming it."""
        types = typing.get_type_hints(cls)
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
