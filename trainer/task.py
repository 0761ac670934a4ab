"""The Trainer's run_fn: reads Transform's output, trains the classifier, exports for serving."""
import logging
import os
from typing import List

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from trainer import distribute, export, head_only, losses
from trainer.augmentation import augment_dataset
from trainer.model import build_model
from trainer.preprocessing import LABEL_ID_KEY, PIXELS_KEY, SPECIES_COUNTS, SPECIES_VOCAB

WARMUP_IMAGES = 3  # eval images re-encoded as TF Serving warmup requests


def species_and_counts(tft_output: tft.TFTransformOutput):
    """Species names in label-id order and their train counts, both from Transform's analyzers."""
    names = [n.decode() for n in tft_output.vocabulary_by_name(SPECIES_VOCAB)]
    with tf.io.gfile.GFile(tft_output.vocabulary_file_by_name(SPECIES_COUNTS)) as handle:
        counts = {}
        for line in handle:
            count, name = line.rstrip("\n").split(" ", 1)
            counts[name] = int(count)
    return names, [counts[name] for name in names]


def make_dataset(files: List[str], data_accessor, tft_output, num_classes: int,
                 batch_size: int, training: bool, seed: int, augmentation: bool):
    dataset = data_accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=256, shuffle=False, num_epochs=1,
                                              label_key=LABEL_ID_KEY),
        tft_output.transformed_metadata.schema)
    # Parse once, then keep decoded tensors in memory: every later epoch reads RAM.
    dataset = dataset.map(lambda f, y: (f[PIXELS_KEY], tf.one_hot(tf.reshape(y, [-1]),
                                                                   num_classes)))
    dataset = dataset.unbatch().cache()
    if training:
        dataset = dataset.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
        if augmentation:
            dataset = augment_dataset(dataset, seed)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = fn_args.custom_config
    seed = int(config["seed"])
    # Same seed -> same initial weights for every loss, as the paper reset its model.
    tf.keras.utils.set_random_seed(seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    species, counts = species_and_counts(tft_output)
    logging.info("training on %d species, train counts %s", len(species),
                 dict(zip(species, counts)))

    common = dict(data_accessor=fn_args.data_accessor, tft_output=tft_output,
                  num_classes=len(species), batch_size=int(config["batch_size"]), seed=seed)
    train = make_dataset(fn_args.train_files, training=True,
                         augmentation=bool(config["augment"]), **common)
    evaluation = make_dataset(fn_args.eval_files, training=False, augmentation=False, **common)

    with distribute.strategy().scope():  # MirroredStrategy when several GPUs are visible
        model = build_model(len(species), int(config["image_size"]), width=float(config["width"]),
                            weights=config["weights"], backbone=config["backbone"])
        loss = losses.make_loss(config["loss"], class_counts=counts, alpha=config["alpha"],
                                gamma=float(config["gamma"]), beta=float(config["beta"]),
                                tau=float(config["tau"]))
        model.compile(optimizer=tf.keras.optimizers.Adam(float(config["learning_rate"])),
                      loss=loss, metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")])
    epochs = int(config["epochs"])
    # A diverged loss (e.g. focal gamma < 1, whose gradient is unbounded) stops training at
    # once: later epochs cannot recover NaN weights. The model is still exported and
    # evaluated, so a sweep reports the collapse as the paper did instead of stopping.
    callbacks = [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs")),
        tf.keras.callbacks.TerminateOnNaN()]
    if config["backbone"] == "frozen" and config.get("feature_cache_dir"):
        # A sweep's fast mode: the frozen backbone's features are computed once for all
        # configurations; only the head trains (no augmentation: features are fixed).
        plain_train = make_dataset(fn_args.train_files, training=False, augmentation=False,
                                   **common)
        head_only.fit_head(model, plain_train, evaluation, config["feature_cache_dir"],
                           head_only.cache_key(fn_args.transform_output, config), epochs=epochs,
                           batch_size=int(config["batch_size"]), seed=seed,
                           callbacks=callbacks, verbose=2)
    else:
        model.fit(train, epochs=epochs, validation_data=evaluation, validation_freq=epochs,
                  callbacks=callbacks, verbose=2)

    module = export.ServingModule(model, tft_output, posthoc_tau=float(config["posthoc_tau"]),
                                  class_counts=counts)
    export.export(module, fn_args.serving_model_dir,
                  warmup_images=warmup_images(evaluation, WARMUP_IMAGES))


def warmup_images(dataset, n: int) -> List[bytes]:
    """JPEG files of the first `n` eval images for TF Serving's warmup requests. The Trainer
    sees only Transform's output (no raw image bytes), so these are the transformed pixels
    re-encoded: real images, at model size."""
    pixels = [image for image, _ in dataset.unbatch().take(n)]
    return export.encode_warmup_images(pixels) if pixels else []
