"""One worker of a multi-worker Trainer run, as a TFJob or Vertex AI worker pool would start it:
TF_CONFIG comes from the environment, and run_fn gets what TFX's Trainer would hand it.

    python -m tests.support.multi_worker_trainer TRANSFORM_DIR EXAMPLES_DIR SERVING_DIR RUN_DIR

Prints one JSON line at the end: the worker's task and whether it exported a model.
"""
import json
import logging
import os
import sys


def main(transform_dir: str, examples_dir: str, serving_dir: str, run_dir: str) -> None:
    from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
    from tfx_bsl.tfxio import tf_example_record

    from trainer import task
    from trainer.hparams import TrainerConfig

    def tf_dataset_factory(files, options, schema):
        return tf_example_record.TFExampleRecord(file_pattern=files, schema=schema
                                                 ).TensorFlowDataset(options)

    config = TrainerConfig(image_size=32, weights="none", epochs=2, batch_size=8,
                           loss="cross_entropy", sampling="balanced", restore_best=True,
                           classifier_retrain_epochs=2, prototypes=True, fit_posthoc=True,
                           calibrate=True, learning_rate=1e-3)
    task.run_fn(FnArgs(
        train_files=[os.path.join(examples_dir, "Split-train", "*")],
        eval_files=[os.path.join(examples_dir, "Split-valid", "*")],
        transform_output=transform_dir, serving_model_dir=serving_dir, model_run_dir=run_dir,
        data_accessor=DataAccessor(tf_dataset_factory=tf_dataset_factory,
                                   record_batch_factory=None, data_view_decode_fn=None),
        custom_config=config.to_custom_config(), base_model=None))
    print(json.dumps({"task": json.loads(os.environ["TF_CONFIG"])["task"],
                      "exported": os.path.exists(os.path.join(serving_dir, "saved_model.pb"))}))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(*sys.argv[1:5])
