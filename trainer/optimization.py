"""The optimizer and its learning-rate schedule: the paper's constant-rate Adam, or AdamW with
a linear warm-up and a cosine decay (the long-tail recipe's small-data hygiene)."""
import tensorflow as tf

from trainer.hparams import TrainerConfig

# The cosine schedule ends at this share of the peak rate rather than at zero.
COSINE_FLOOR = 0.01


@tf.keras.utils.register_keras_serializable(package="rarespecies")
class WarmupConstant(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `rate` over `warmup_steps`, then `rate`."""

    def __init__(self, rate: float, warmup_steps: int):
        self.rate, self.warmup_steps = float(rate), int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return self.rate * tf.minimum(1.0, (step + 1.0) / float(max(1, self.warmup_steps)))

    def get_config(self):
        return {"rate": self.rate, "warmup_steps": self.warmup_steps}


def learning_rate(config: TrainerConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, int(round(config.warmup_epochs * steps_per_epoch)))
    if config.lr_schedule == "cosine":
        if warmup > 0:
            return tf.keras.optimizers.schedules.CosineDecay(
                0.0, total - warmup, alpha=COSINE_FLOOR, warmup_target=config.learning_rate,
                warmup_steps=warmup)
        return tf.keras.optimizers.schedules.CosineDecay(config.learning_rate, total,
                                                         alpha=COSINE_FLOOR)
    if config.lr_schedule != "constant":
        raise ValueError(f"unknown learning-rate schedule {config.lr_schedule!r}")
    return WarmupConstant(config.learning_rate, warmup) if warmup > 0 else config.learning_rate


def make_optimizer(config: TrainerConfig, steps_per_epoch: int):
    rate = learning_rate(config, steps_per_epoch)
    if config.optimizer == "adam":
        return tf.keras.optimizers.Adam(rate)
    if config.optimizer == "adamw":
        optimizer = tf.keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
        # Decay the weights, not the biases and BatchNorm's scale and shift.
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        return optimizer
    raise ValueError(f"unknown optimizer {config.optimizer!r}")
