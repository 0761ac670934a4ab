"""The Trainer's run_fn: reads Transform's output, trains the classifier as the recipe says,
makes the validation-split choices, and exports for serving.

  0. --sampling auto: quota or balanced, as the train counts say (trainer/sampling.py);
     --augmentation auto: flip_crop, or crop where the images show that a mirror image
     changes the class (trainer/mirror_check.py);
  1. train: model.fit on the train split, drawn as --sampling says, the last --resample-last
     share of the epochs drawn as --resampling says (deferred re-sampling); the validation
     split's macro-F1 is measured after each epoch; the weights kept are the mean of the last
     --average-last share of the epochs (else the last epoch's), or the best epoch's where
     --restore-best asks and validation prefers them;
  2. optionally re-train the classifier layer on class-balanced batches (cRT), kept only if the
     validation split prefers it;
  3. fit the post-hoc logit adjustment (where the validation split has every species; else
     the fixed --posthoc-tau) and the prototype weight on the validation split, then a
     temperature (--calibrate) and the abstain threshold for --target-precision;
  4. export the SavedModel with those choices inside, and training_report.json (what was chosen,
     on which split) next to it.
Across several machines (TF_CONFIG), step 1 runs on all of them and steps 2 to 4 on the chief
alone (trainer/distribute.py). The test split is never read here: it is the Evaluator's.
"""
import dataclasses
import json
import logging
import os
from typing import List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from trainer import (data, distribute, export, head_only, losses, mirror_check, posthoc,
                     sampling, stages, warm_start)
from trainer.callbacks import EpochProgress
from trainer.hparams import TrainerConfig
from trainer.model import build_model
from trainer.optimization import make_optimizer

log = logging.getLogger(__name__)
WARMUP_IMAGES = 3  # validation images re-encoded as TF Serving warmup requests
REPORT_FILE = "training_report.json"
# --validation-classifier: the validation split's folds, each scored by a classifier re-trained
# on train and the other folds (a re-training each, and one on all of them).
VALIDATION_FOLDS = 3


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    # The strategy first: MultiWorkerMirroredStrategy (TF_CONFIG naming several workers) must
    # exist before TensorFlow runs any op. MirroredStrategy with several GPUs.
    strategy = distribute.strategy()
    workers = distribute.worker_count()
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    # Same seed -> same initial weights for every loss, as the paper reset its model.
    tf.keras.utils.set_random_seed(config.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    species, counts = data.species_and_counts(tft_output)
    num_classes = len(species)
    log.info("training on %d species, train counts %s", num_classes,
             dict(zip(species, counts)))
    budget = data.CacheBudget(config.cache_gib, config.image_size)
    valid = data.read_split(fn_args.eval_files, fn_args.data_accessor, tft_output,
                            config.image_size)
    valid_labels = data.labels(valid)
    # Validation first: it is read after every epoch.
    valid = data.cached_if_fits(valid, len(valid_labels), budget, "validation")
    train = data.read_split(fn_args.train_files, fn_args.data_accessor, tft_output,
                            config.image_size)
    config, sampling_choice = resolve_sampling(config, counts)
    steps = data.steps_per_epoch(counts, config.batch_size, config.species_quota,
                                 config.sampling)
    # A sweep's fast mode: the frozen backbone's features are computed once for all
    # configurations; only the head trains (no augmentation: features are fixed).
    head_only_mode = config.backbone == "frozen" and bool(config.feature_cache_dir)
    augmentation_choice = None
    if not head_only_mode:
        config, augmentation_choice = resolve_augmentation(config, train, valid, num_classes)

    with strategy.scope():
        model = build_model(num_classes, config.image_size, width=config.width,
                            weights=config.weights, backbone=config.backbone,
                            offline=config.offline)
        started_from = None
        if config.warm_start:
            if not fn_args.base_model:
                log.warning("--warm-start: no blessed model yet; training from --weights")
            else:
                started_from = warm_start.load(model, fn_args.base_model)
        loss = losses.make_loss(config.loss, class_counts=counts, alpha=config.alpha,
                                gamma=config.gamma, beta=config.beta, tau=config.tau)
        model.compile(optimizer=make_optimizer(config, steps), loss=loss,
                      metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")])
        # The optimizer's slots made now rather than in the first train step: a tf.function
        # that creates variables is traced twice, and tracing MobileNetV2's train step is a
        # large part of a small run's time.
        model.optimizer.build(model.trainable_variables)
    # Across workers, each scores the validation split alone, on a plain copy of the model.
    best = stages.BestEpoch(data.pixel_batches(valid), valid_labels, num_classes,
                            config.restore_best,
                            scorer=distribute.local_copy(model) if workers > 1 else None)
    # A diverged loss (e.g. focal gamma < 1, whose gradient is unbounded) stops training at
    # once: later epochs cannot recover NaN weights. The model is still exported and
    # evaluated, so a sweep reports the collapse as the paper did instead of stopping.
    callbacks = [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs")),
        tf.keras.callbacks.TerminateOnNaN(), EpochProgress(config.epochs)]
    if head_only_mode:
        head_only.fit_head(model, data.model_inputs(train, num_classes).batch(config.batch_size),
                           data.model_inputs(valid, num_classes).batch(config.batch_size),
                           config.feature_cache_dir,
                           head_only.cache_key(fn_args.transform_output, config),
                           epochs=config.epochs, batch_size=config.batch_size, seed=config.seed,
                           callbacks=callbacks, verbose=0)
    else:
        # BestEpoch before EpochProgress: the epoch's line shows its validation macro-F1.
        callbacks.insert(2, best)
        average = stages.WeightAverage.over_last(config.average_last, config.epochs)
        fit_stages(model, config, train, counts, budget, steps,
                   callbacks + ([average] if average else []), workers)
        best.finish(average)
    if workers > 1:
        # Every worker copies: reading BatchNorm's statistics is an all-reduce across them.
        model = distribute.local_copy(model)
        if not distribute.is_chief():
            # The chief makes the validation choices and exports; training_report.json in
            # the model's assets.extra is the last file it writes.
            distribute.wait_for_chief(os.path.join(fn_args.serving_model_dir, "assets.extra",
                                                   REPORT_FILE))
            return

    report = choose_on_validation(model, config, counts, train, valid, valid_labels)
    report["validation_lacks"] = [species[c] for c in report.pop("_lacking_ids")]
    if report["posthoc_tau_fallback"]:
        log.info("post-hoc tau fixed at %s, not fitted: the validation split lacks %s",
                 report["posthoc_tau"], ", ".join(report["validation_lacks"]))
    report.update(recipe=config.recipe, settings=config.to_custom_config(),
                  best_epoch=best.best_epoch, validation_f1_by_epoch=best.history,
                  weights_kept=best.kept,
                  validation_images=int(len(valid_labels)), species=species,
                  train_counts=counts, augmentation=augmentation_choice,
                  sampling=sampling_choice)
    module = export.ServingModule(
        model, tft_output, posthoc_tau=report["posthoc_tau"], class_counts=counts,
        prototypes=report.pop("_prototypes"), prototype_weight=report["prototype_weight"],
        temperature=report["temperature"], abstain_threshold=report["abstain_threshold"])
    report["warm_start"] = started_from
    warm_start.save(model, fn_args.serving_model_dir)
    export.export(module, fn_args.serving_model_dir,
                  warmup_images=export.encode_warmup_images(
                      data.first_pixels(valid, WARMUP_IMAGES)) if len(valid_labels) else [])
    write_report(report, fn_args.model_run_dir, fn_args.serving_model_dir)


def resolve_sampling(config: TrainerConfig, counts: List[int]):
    """--sampling auto (and --resampling auto) become quota or balanced, as the train counts
    say (trainer/sampling.py's resolve). Returns the config to train with and what was chosen,
    on what (None: nothing to choose)."""
    if "auto" not in (config.sampling, config.resampling):
        return config, None
    chosen = {name: sampling.resolve(getattr(config, name), counts, config.species_quota)
              for name in ("sampling", "resampling")}
    mean = sampling.species_average(counts)
    log.info("sampling auto: %s (species average %.1f train images; species quota %d)",
             chosen["sampling"], mean, config.species_quota)
    choice = {"asked": config.sampling, "chosen": chosen["sampling"],
              "resampling_asked": config.resampling, "resampling_chosen": chosen["resampling"],
              "chosen_on": "the train counts", "mean_train_images": round(mean, 2),
              "species_quota": config.species_quota}
    return dataclasses.replace(config, **chosen), choice


def resolve_augmentation(config: TrainerConfig, train, valid, num_classes: int):
    """--augmentation auto becomes flip_crop or crop, as trainer/mirror_check.py finds on the
    train and validation images ((uint8 pixels, label id) datasets; one pass over each).
    Returns the config to train with and what was chosen, on what (None: nothing to choose)."""
    if config.augmentation != "auto":
        return config, None
    images, ids = data.thumbnails(train.concatenate(valid), mirror_check.THUMBNAIL)
    result = mirror_check.check(images, ids, num_classes)
    log.info("augmentation auto: %s (nearest class mean, leave-one-out on %d images: "
             "%.1f%% right, %.1f%% of their mirror images; z %.1f)", result.augmentation,
             result.images, 100 * result.accuracy, 100 * result.mirrored_accuracy, result.z)
    choice = {"asked": "auto", "chosen": result.augmentation,
              "chosen_on": "the train and validation images (leave-one-out)",
              "mirror_check": dataclasses.asdict(result)}
    return dataclasses.replace(config, augmentation=result.augmentation), choice


def fit_stages(model, config: TrainerConfig, train, counts: List[int],
               budget: data.CacheBudget, steps: int, callbacks: List, workers: int = 1) -> None:
    """model.fit as the sampling settings say. Across workers, every worker takes the same
    number of steps of its share of each batch."""
    num_classes = len(counts)
    resampled = int(round(config.resample_last * config.epochs))
    first = config.epochs - resampled
    if first:
        if config.sampling == "natural":
            examples = data.cached_if_fits(train, sum(counts), budget.copy(), "train")
            batches = data.natural_batches(examples, num_classes, config.batch_size,
                                           config.seed, config.augmentation)
            # One pass an epoch, as the paper; repeated where workers must take equal steps
            # or the species quota makes an epoch longer than a pass.
            if workers > 1 or steps != data.steps_per_epoch(counts, config.batch_size):
                model.fit(distribute.shard(batches.repeat()), epochs=first,
                          steps_per_epoch=steps, callbacks=callbacks, verbose=0)
            else:
                model.fit(batches, epochs=first, callbacks=callbacks, verbose=0)
        else:
            batches = data.sampled_batches(train, counts, config.sampling, budget.copy(),
                                           config.batch_size, config.seed, config.augmentation,
                                           config.species_quota)
            model.fit(distribute.shard(batches), epochs=first, steps_per_epoch=steps,
                      callbacks=callbacks, verbose=0)
    if resampled:
        batches = data.sampled_batches(train, counts, config.resampling, budget.copy(),
                                       config.batch_size, config.seed + 1, config.augmentation,
                                       config.species_quota)
        model.fit(distribute.shard(batches), initial_epoch=first, epochs=config.epochs,
                  steps_per_epoch=steps, callbacks=callbacks, verbose=0)


def choose_on_validation(model, config: TrainerConfig, counts, train, valid,
                         valid_labels) -> dict:
    """Which classifier layer, which post-hoc tau, which prototype weight: each by validation
    macro-F1 (posthoc.py), on scores from a classifier that did not learn from the image
    scored (with --validation-classifier, cRT's out of fold). Without validation images: the
    trained classifier and the fixed --posthoc-tau; the fixed tau too where the validation
    split lacks species that train has. Returns the training report's choices (and
    the prototypes to export, and under "_lacking_ids" the ids of the species the
    validation split lacks). `train` and `valid` are (uint8 pixels, label id) datasets, read
    here as embeddings only."""
    num_classes = len(counts)
    # A tau is fitted only on a validation split that has every species train has. Where a
    # carve held out no image of a species with a handful, every answer of that species on
    # validation can only be an error: the fit is pulled towards the common species, against
    # the very species the adjustment is for. There the fixed --posthoc-tau stays.
    lacking = missing_species(counts, valid_labels)
    fallback = bool(config.fit_posthoc and lacking)
    if config.fit_posthoc and not lacking:
        taus, chosen_on = posthoc.TAUS, "the validation split"
    else:
        taus, chosen_on = (config.posthoc_tau,), "nothing: fixed (--posthoc-tau)"
    if fallback:
        chosen_on += f", as the validation split lacks {len(lacking)} species that train has"
    tau_source = {"posthoc_tau_chosen_on": chosen_on, "posthoc_tau_fallback": fallback,
                  "_lacking_ids": lacking}
    weights = posthoc.PROTOTYPE_WEIGHTS if config.prototypes else (0.0,)
    if not len(valid_labels):
        return {**tau_source, "classifier": "trained", "posthoc_tau": config.posthoc_tau,
                "prototype_weight": 0.0, "validation_f1": None, "_prototypes": None,
                "temperature": 1.0, "abstain_threshold": 0.0,
                "chosen_on": "nothing (no validation images): fixed settings"}

    # One embedding model for both splits (each Keras model traces its own predict function).
    embed = stages.embedding_model(model)
    # The classifier layer is all that cRT changes: the embeddings serve both candidates.
    train_embeddings = train_labels = None
    if config.prototypes or config.classifier_retrain_epochs:
        train_embeddings, train_labels = stages.embeddings_and_labels(
            embed, data.labelled_pixel_batches(train))
    valid_embeddings = np.concatenate([embed.predict_on_batch(pixels)
                                       for pixels in data.pixel_batches(valid)])
    class_prototypes = (posthoc.prototypes(train_embeddings, train_labels, num_classes)
                        if config.prototypes else None)
    prototype_log = (posthoc.prototype_log_probs(valid_embeddings, class_prototypes)
                     if config.prototypes else None)

    def candidate(probabilities):
        adjustment = posthoc.fit(probabilities, valid_labels, counts, prototype_log,
                                 taus, weights)
        log_scores = posthoc.adjusted_log_scores(probabilities, counts, adjustment.tau,
                                                 prototype_log, adjustment.prototype_weight)
        return adjustment, stages.classifier_weights(model), log_scores

    def retrain(embeddings, labels):
        stages.retrain_classifier(model, embeddings, labels, config.classifier_retrain_epochs,
                                  config.batch_size, config.seed)

    candidates = [("trained", *candidate(stages.classify_embeddings(model, valid_embeddings)))]
    if config.classifier_retrain_epochs and config.validation_classifier:
        # Each validation image is scored by a classifier re-trained without it (cross-fitting),
        # as new images are by the one exported, re-trained on all of them.
        probabilities = np.zeros((len(valid_labels), num_classes))
        for fold in stages.validation_folds(valid_labels, VALIDATION_FOLDS, config.seed):
            retrain(np.concatenate([train_embeddings, valid_embeddings[~fold]]),
                    np.concatenate([train_labels, valid_labels[~fold]]))
            probabilities[fold] = stages.classify_embeddings(model, valid_embeddings[fold])
        retrain(np.concatenate([train_embeddings, valid_embeddings]),
                np.concatenate([train_labels, valid_labels]))
        name = ("re-trained on class-balanced batches of the train and validation images (cRT; "
                "validation scored out of fold)")
    elif config.classifier_retrain_epochs:
        retrain(train_embeddings, train_labels)
        probabilities = stages.classify_embeddings(model, valid_embeddings)
        name = "re-trained on class-balanced batches (cRT)"
    if config.classifier_retrain_epochs:
        candidates.append((name, *candidate(probabilities)))
    chosen, adjustment = stages.choose([(c[0], c[1]) for c in candidates])
    _, _, weights_kept, log_scores = next(c for c in candidates if c[0] == chosen)
    stages.set_classifier_weights(model, weights_kept)
    temperature = posthoc.fit_temperature(log_scores, valid_labels) if config.calibrate else 1.0
    calibrated = posthoc.softmax_scores(log_scores, temperature)
    abstain = posthoc.abstain_threshold(calibrated, valid_labels, config.target_precision)
    return {**tau_source, "classifier": chosen, "posthoc_tau": adjustment.tau,
            "prototype_weight": adjustment.prototype_weight,
            "validation_f1": adjustment.validation_f1,
            "candidates": {c[0]: dataclasses.asdict(c[1]) for c in candidates},
            "_prototypes": class_prototypes if adjustment.prototype_weight else None,
            "temperature": temperature,
            "validation_ece": {"before": posthoc.expected_calibration_error(
                posthoc.softmax_scores(log_scores), valid_labels),
                "after": posthoc.expected_calibration_error(calibrated, valid_labels)},
            "abstain_threshold": abstain.threshold,
            "abstain": dict(dataclasses.asdict(abstain),
                            target_precision=config.target_precision),
            "chosen_on": f"the validation split ({len(valid_labels)} images)"}


def missing_species(counts, valid_labels) -> List[int]:
    """The ids of the species with train images and none in the validation split."""
    present = set(np.asarray(valid_labels).tolist())
    return [c for c, n in enumerate(counts) if n and c not in present]


def write_report(report: dict, model_run_dir: str, serving_model_dir: str) -> None:
    """training_report.json in the model run folder and in the model's assets.extra/ (which
    the Pusher ships and the evaluation report reads)."""
    text = json.dumps(report, indent=2, default=float)
    for folder in (model_run_dir, os.path.join(serving_model_dir, "assets.extra")):
        tf.io.gfile.makedirs(folder)
        with tf.io.gfile.GFile(os.path.join(folder, REPORT_FILE), "w") as handle:
            handle.write(text)
