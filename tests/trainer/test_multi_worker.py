"""trainer/distribute.py for real: two worker processes on 127.0.0.1, started as Vertex AI or a
TFJob would start them (TF_CONFIG, TFX's Trainer executor), train one model together with
MultiWorkerMirroredStrategy; the chief exports it and the export serves. Each worker waits for
the other at every step (the gradients' all-reduce), so a run that finishes is a run that
trained across both."""
import json
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from pipeline.data import demo_data
from schema.features import IMAGE_KEY, LABEL_ID_KEY, LABEL_KEY, PIXELS_KEY
from tests.support.serving_process import free_port
from tests.support.transformed_rows import label_id, pixels_bytes
from trainer import preprocessing

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TRAIN = {"Sora": 12, "Shoebill": 8, "Robin": 4, "Crow": 2}


def encode_example(row) -> bytes:
    """A transformed row as Transform writes it: a tf.Example of pixels and species id."""
    return tf.train.Example(features=tf.train.Features(feature={
        PIXELS_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels_bytes(row)])),
        LABEL_ID_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label_id(row)]))
    })).SerializeToString()


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """Transform's output for a small demo dataset at 32 px: the transform graph, and train and
    valid examples as Transform writes them (gzipped tf.Examples)."""
    tmp = tmp_path_factory.mktemp("multi_worker")
    demo_data.generate(tmp / "data", species=list(TRAIN), train_counts=TRAIN,
                       test_counts={s: 1 for s in TRAIN}, valid_counts={s: 2 for s in TRAIN},
                       image_size=48, workers=1)
    raw = {split: [{IMAGE_KEY: [p.read_bytes()], LABEL_KEY: [p.parent.name.encode()]}
                   for p in sorted((tmp / "data" / split).rglob("*.jpg"))]
           for split in ("train", "valid")}
    schema = schema_utils.schema_from_feature_spec({
        IMAGE_KEY: tf.io.FixedLenFeature([1], tf.string),
        LABEL_KEY: tf.io.FixedLenFeature([1], tf.string)})
    fn = lambda inputs: preprocessing.preprocessing_fn(inputs, {"image_size": 32})  # noqa: E731
    with tft_beam.Context(temp_dir=str(tmp / "tft_tmp")):
        with beam.Pipeline() as pipeline:
            train = pipeline | "train" >> beam.Create(raw["train"])
            valid = pipeline | "valid" >> beam.Create(raw["valid"])
            metadata = dataset_metadata.DatasetMetadata(schema)
            (train_out, _), transform_fn = ((train, metadata)
                                            | tft_beam.AnalyzeAndTransformDataset(fn))
            valid_out, _ = (((valid, metadata), transform_fn)
                            | tft_beam.TransformDataset())
            _ = transform_fn | tft_beam.WriteTransformFn(str(tmp / "transform"))
            for name, out in (("train", train_out), ("valid", valid_out)):
                _ = (out | f"encode_{name}" >> beam.Map(encode_example)
                     | f"write_{name}" >> beam.io.WriteToTFRecord(
                         str(tmp / "examples" / f"Split-{name}" / "part"),
                         file_name_suffix=".gz"))
    # The raw data's schema beside the transform graph, as TFX's Transform writes it.
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema),
                               str(tmp / "transform" / "metadata"))
    return tmp


def test_two_workers_train_one_model_that_serves(transformed):
    """Both replicas run TFX's Trainer executor on the same model folders: worker 0 (the
    chief) exports, worker 1 waits for that export, and both succeed."""
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}),
                CUDA_VISIBLE_DEVICES="")
            log = open(transformed / f"worker{index}.log", "w")
            workers.append((subprocess.Popen(
                [sys.executable, "-m", "tests.support.multi_worker_trainer",
                 str(transformed / "transform"), str(transformed / "examples"),
                 str(transformed / "model"), str(transformed / "model_run")],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        codes = [process.wait(timeout=600) for process, _ in workers]
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [(transformed / f"worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    results = [json.loads([line for line in log.splitlines() if line.startswith("{")][-1])
               for log in logs]
    assert [r["task"]["index"] for r in results] == [0, 1]
    for log in logs:
        assert "training on 2 workers with MultiWorkerMirroredStrategy" in log
    assert "waiting for the chief to export" in logs[1]
    assert "waiting for the chief" not in logs[0]
    assert "heartbeat timeout" not in logs[0]  # worker 1 stayed until the export

    serving = transformed / "model" / "Format-Serving"
    report = json.loads((serving / "assets.extra" / "training_report.json").read_text())
    assert report["train_counts"] == [TRAIN[s] for s in report["species"]]
    assert len(report["validation_f1_by_epoch"]) == 2
    # The last epoch's weights averaged on every worker, or epoch 1's if validation prefers them.
    assert (report["weights_kept"].startswith("the mean of the weights of epoch 2 ")
            or report["weights_kept"].startswith("the weights of epoch 1"))
    model = tf.saved_model.load(str(serving))
    image = (transformed / "data" / "test" / "Crow" / "0000.jpg").read_bytes()
    outputs = model.signatures["serving_default"](image_bytes=tf.constant([image]))
    scores = outputs["scores"].numpy()
    assert scores.shape == (1, len(TRAIN))
    np.testing.assert_allclose(scores.sum(), 1.0, atol=1e-4)
    assert outputs["classes"].numpy()[0, 0].decode() in TRAIN
