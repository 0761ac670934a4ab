"""One replica of a multi-worker Trainer, run as Vertex AI or a TFJob would run it: TF_CONFIG
from the environment, and TFX's own Trainer executor (GenericExecutor) calling run_fn with the
artifacts the pipeline would hand it. Every replica gets the same model and model-run
folders, as they do on Vertex AI; the executor fails a replica whose run_fn returns before the
model exists.

    python -m tests.support.multi_worker_trainer TRANSFORM_DIR EXAMPLES_DIR MODEL_DIR RUN_DIR

Prints one JSON line at the end: the replica's task and the seconds it spent.
"""
import json
import logging
import os
import sys
import time


def main(transform_dir: str, examples_dir: str, model_dir: str, run_dir: str) -> None:
    from tfx.components.trainer.executor import GenericExecutor
    from tfx.proto import trainer_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import proto_utils

    from trainer.hparams import TrainerConfig

    def artifact(kind, uri):
        instance = kind()
        instance.uri = uri
        return instance

    examples = artifact(standard_artifacts.Examples, examples_dir)
    examples.split_names = artifact_utils.encode_split_names(["train", "valid"])
    config = TrainerConfig(image_size=32, weights="none", epochs=2, batch_size=8,
                           loss="cross_entropy", sampling="balanced", restore_best=True,
                           average_last=0.5,
                           classifier_retrain_epochs=2, prototypes=True, fit_posthoc=True,
                           calibrate=True, learning_rate=1e-3)
    started = time.monotonic()
    GenericExecutor().Do(
        {"examples": [examples],
         "transform_graph": [artifact(standard_artifacts.TransformGraph, transform_dir)]},
        {"model": [artifact(standard_artifacts.Model, model_dir)],
         "model_run": [artifact(standard_artifacts.ModelRun, run_dir)]},
        {"run_fn": "trainer.task.run_fn",
         "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"])),
         "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["valid"])),
         "custom_config": json.dumps(config.to_custom_config())})
    print(json.dumps({"task": json.loads(os.environ["TF_CONFIG"])["task"],
                      "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(*sys.argv[1:5])
