"""The Trainer's tf.distribute strategy: all the GPUs of its machine (or pod), else the default.

One Trainer process with N GPUs (a Kubeflow pod with `nvidia.com/gpu: N`, a Vertex AI step with
N accelerators) trains with MirroredStrategy: each batch of `batch_size` images is split over the
GPUs and their gradients are summed, so a step sees the same batch as on one device (BatchNorm's
batch statistics, though, are per GPU, over batch_size/N images). With one GPU or none, the
default strategy: nothing changes. The losses keep their meaning: Keras scales mean-reduced
losses by 1/N before the cross-replica sum, and the paper's tfa focal loss (reduction NONE: a
sum over the batch) sums over the GPUs to the sum over the whole batch. Several machines
(MultiWorkerMirroredStrategy) are not set up: one node's GPUs suffice for this model.
"""
import logging

import tensorflow as tf

log = logging.getLogger(__name__)


def strategy() -> tf.distribute.Strategy:
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.get_strategy()
