"""The Trainer's run_fn: reads Transform's output, trains the classifier, exports for serving."""
import logging
import os
from typing import List

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from trainer import distribute, export, head_only, losses
from trainer.data import make_dataset, species_and_counts
from trainer.hparams import TrainerConfig
from trainer.model import build_model

WARMUP_IMAGES = 3  # eval images re-encoded as TF Serving warmup requests


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    # Same seed -> same initial weights for every loss, as the paper reset its model.
    tf.keras.utils.set_random_seed(config.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    species, counts = species_and_counts(tft_output)
    logging.info("training on %d species, train counts %s", len(species),
                 dict(zip(species, counts)))

    common = dict(data_accessor=fn_args.data_accessor, tft_output=tft_output,
                  num_classes=len(species), batch_size=config.batch_size, seed=config.seed)
    train = make_dataset(fn_args.train_files, training=True, augmentation=config.augment,
                         **common)
    evaluation = make_dataset(fn_args.eval_files, training=False, augmentation=False, **common)

    with distribute.strategy().scope():  # MirroredStrategy when several GPUs are visible
        model = build_model(len(species), config.image_size, width=config.width,
                            weights=config.weights, backbone=config.backbone)
        loss = losses.make_loss(config.loss, class_counts=counts, alpha=config.alpha,
                                gamma=config.gamma, beta=config.beta, tau=config.tau)
        model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate),
                      loss=loss, metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")])
    # A diverged loss (e.g. focal gamma < 1, whose gradient is unbounded) stops training at
    # once: later epochs cannot recover NaN weights. The model is still exported and
    # evaluated, so a sweep reports the collapse as the paper did instead of stopping.
    callbacks = [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs")),
        tf.keras.callbacks.TerminateOnNaN()]
    if config.backbone == "frozen" and config.feature_cache_dir:
        # A sweep's fast mode: the frozen backbone's features are computed once for all
        # configurations; only the head trains (no augmentation: features are fixed).
        plain_train = make_dataset(fn_args.train_files, training=False, augmentation=False,
                                   **common)
        head_only.fit_head(model, plain_train, evaluation, config.feature_cache_dir,
                           head_only.cache_key(fn_args.transform_output, config),
                           epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
                           callbacks=callbacks, verbose=2)
    else:
        model.fit(train, epochs=config.epochs, validation_data=evaluation,
                  validation_freq=config.epochs, callbacks=callbacks, verbose=2)

    module = export.ServingModule(model, tft_output, posthoc_tau=config.posthoc_tau,
                                  class_counts=counts)
    export.export(module, fn_args.serving_model_dir,
                  warmup_images=warmup_images(evaluation, WARMUP_IMAGES))


def warmup_images(dataset, n: int) -> List[bytes]:
    """JPEG files of the first `n` eval images for TF Serving's warmup requests. The Trainer
    sees only Transform's output (no raw image bytes), so these are the transformed pixels
    re-encoded: real images, at model size."""
    pixels = [image for image, _ in dataset.unbatch().take(n)]
    return export.encode_warmup_images(pixels) if pixels else []
