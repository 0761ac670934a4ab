"""Figure b: the Trainer's training images/s against model.fit on in-memory tensors of the
same shape (the compute bound), side by side in one process.

Reads a finished pipeline run's Transform output (its ML Metadata) and trains the run's model
three ways, timing every epoch:
  trainer: the Trainer's own input pipeline (trainer.data.read_split and natural_batches:
           TFXIO over the transformed examples, cache, shuffle, augmentation, prefetch);
  trainer_no_augment: the same without augmentation (what augmentation costs);
  in_memory: model.fit on a NumPy array of the same shape (no input pipeline at all).
An epoch runs from its start to the next one's (the last to the end of fit), so time Keras
spends between epochs counts; the rate is the median over epochs 2 to N. The first epoch (graph
tracing; the Trainer also reads and caches its data) is reported apart.

    python benchmarks/input_pipeline.py --run-dir out/bench/overhead-x1 --epochs 4

Results: out/bench/input_pipeline.json.
"""
import argparse
import os
import time

import numpy as np

from common import REPO_ROOT, write_results


class EpochTimes:
    """Wall time of each epoch from its start to the next one's (the last: to the end of fit),
    so that what Keras does between epochs counts too. Fed by a LambdaCallback."""
    def __init__(self):
        self.starts = []

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append(time.perf_counter())

    def seconds(self, fit_end: float) -> list:
        ends = self.starts[1:] + [fit_end]
        return [end - start for start, end in zip(self.starts, ends)]


def transform_outputs(run_dir: str, pipeline_name: str):
    """(transformed Examples artifact, transform graph uri) of the run's newest Transform."""
    from tfx.types import standard_artifacts
    from pipeline.reports.mlmd import latest_artifact, open_store
    store = open_store(os.path.join(run_dir, "metadata", f"{pipeline_name}.sqlite"))
    prefix = os.path.join(os.path.abspath(run_dir), "pipelines", pipeline_name, "Transform")
    examples = latest_artifact(store, pipeline_name, "Examples", uri_prefix=prefix)
    graph = latest_artifact(store, pipeline_name, "TransformGraph", uri_prefix=prefix)
    if examples is None or graph is None:
        raise SystemExit(f"no Transform output in {run_dir}: run the pipeline there first")
    artifact = standard_artifacts.Examples()
    artifact.set_mlmd_artifact(examples)
    return artifact, graph.uri


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default=os.path.join(REPO_ROOT, "out", "bench",
                                                          "overhead-x1"),
                        help="a pipeline run's --output-dir")
    parser.add_argument("--pipeline-name", default="rarespecies")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "bench"))
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils
    from tfx.utils import io_utils
    from trainer import data
    from trainer.losses import make_loss
    from trainer.model import build_model

    examples, graph_uri = transform_outputs(args.run_dir, args.pipeline_name)
    tft_output = tft.TFTransformOutput(graph_uri)
    species, counts = data.species_and_counts(tft_output)
    accessor = DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None, data_view_decode_fn=None)
    train_files = [io_utils.all_files_pattern(uri)
                   for uri in artifact_utils.get_split_uris([examples], "train")]
    # The run's image size, from one stored image (Transform keeps it serialized).
    image_size = next(iter(data.read_split(train_files, accessor, tft_output, None)
                           .take(1)))[0].shape[0]
    images = sum(counts)

    def fit(inputs, **kwargs):
        tf.keras.utils.set_random_seed(42)  # the same initial weights every time
        model = build_model(len(species), image_size)
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                      loss=make_loss("sigmoid_focal", class_counts=counts),
                      metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")])
        times = EpochTimes()
        callback = tf.keras.callbacks.LambdaCallback(on_epoch_begin=times.on_epoch_begin)
        model.fit(inputs, epochs=args.epochs, callbacks=[callback], verbose=2, **kwargs)
        seconds = times.seconds(time.perf_counter())
        return {"first_epoch_images_per_s": round(images / seconds[0], 1),
                # The median: Keras now and then spends 4-16 s between epochs or after the
                # last one, in any of the three ways (see README.md).
                "images_per_s": round(float(images / np.median(seconds[1:])), 1),
                "epoch_s": [round(s, 1) for s in seconds]}

    def trainer_dataset(augmentation):
        # As the Trainer reads a split that fits its cache budget (natural sampling).
        examples = data.read_split(train_files, accessor, tft_output, image_size).cache()
        return data.natural_batches(examples, len(species), args.batch_size, seed=42,
                                    augmentation="flip_crop" if augmentation else "none")

    rng = np.random.default_rng(0)
    pixels = rng.random((images, image_size, image_size, 3), dtype=np.float32)
    labels = np.eye(len(species), dtype=np.float32)[rng.integers(0, len(species), images)]
    results = {"run_dir": args.run_dir, "train_images": images, "image_size": image_size,
               "epochs": args.epochs, "batch_size": args.batch_size,
               "trainer": fit(trainer_dataset(True)),
               "trainer_no_augment": fit(trainer_dataset(False)),
               "in_memory": fit(pixels, y=labels, batch_size=args.batch_size, shuffle=True)}
    bound = results["in_memory"]["images_per_s"]
    results["ratio_trainer_vs_in_memory"] = round(results["trainer"]["images_per_s"] / bound, 3)
    results["ratio_no_augment_vs_in_memory"] = round(
        results["trainer_no_augment"]["images_per_s"] / bound, 3)
    write_results(os.path.join(args.out, "input_pipeline.json"), results)


if __name__ == "__main__":
    main()
