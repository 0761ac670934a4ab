"""The Trainer's tf.distribute strategy: several machines when TF_CONFIG names them, else all
the GPUs of its machine, else the default.

- Several workers (TF_CONFIG with a `cluster` of more than one task, as a Vertex AI custom job
  with worker pools or a Training Operator TFJob sets it) train with
  MultiWorkerMirroredStrategy: every worker runs the same run_fn, each reads its share of every
  batch (`shard`: tf.data's DATA auto-sharding, so it works with any number of files), and
  gradients are all-reduced, so a step sees the same global batch of `batch_size` images as on
  one device. After training, the chief (the `chief` task, else worker 0) makes the validation
  choices and exports on a local copy of the model; the other workers wait for its export
  (`wait_for_chief`): TFX's Trainer executor fails a replica whose run_fn returns before the
  model directory exists, and a worker that left early would show in the chief's log as a
  lost heartbeat.
- One machine with N GPUs trains with MirroredStrategy: each batch is split over the GPUs and
  their gradients summed. BatchNorm's batch statistics are per replica in both cases.
The losses keep their meaning: Keras scales mean-reduced losses by 1/replicas before the
cross-replica sum, and the paper's tfa focal loss (reduction NONE: a sum over the batch) sums
over the replicas to the sum over the whole batch.
"""
import json
import logging
import os
import time

import tensorflow as tf

log = logging.getLogger(__name__)


def _tf_config() -> dict:
    return json.loads(os.environ.get("TF_CONFIG") or "{}")


def worker_count() -> int:
    """Tasks that train: TF_CONFIG's chief and workers (1 without TF_CONFIG)."""
    cluster = _tf_config().get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief() -> bool:
    """The task that exports: `chief`, else worker 0 (also true without TF_CONFIG)."""
    tf_config = _tf_config()
    task = tf_config.get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    has_chief = bool(tf_config.get("cluster", {}).get("chief"))
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def strategy() -> tf.distribute.Strategy:
    if worker_count() > 1:
        log.info("training on %d workers with MultiWorkerMirroredStrategy (TF_CONFIG)",
                 worker_count())
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.get_strategy()


def shard(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker reads every example and keeps its share of each batch (DATA sharding): the
    split may be one file, and the sampled streams are not files at all."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options)


def local_copy(model: tf.keras.Model) -> tf.keras.Model:
    """The model with its current weights as plain variables (call it outside the strategy's
    scope): for the work one worker does alone (validation scores, the classifier
    re-training, export)."""
    copy = tf.keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


CHIEF_TIMEOUT_S = 6 * 3600  # a worker gives up waiting for the chief's export after this
POLL_S = 5


def wait_for_chief(done_marker: str, timeout_s: float = CHIEF_TIMEOUT_S) -> None:
    """Returns when the chief has written `done_marker` (the last file of its export);
    TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    log.info("waiting for the chief to export (%s)", done_marker)
    while not tf.io.gfile.exists(done_marker):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the chief did not export within {timeout_s:.0f} s: "
                               f"{done_marker} is not there")
        time.sleep(POLL_S)
