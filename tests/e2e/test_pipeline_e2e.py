"""One small real pipeline run (4 species, 32 px, 1 epoch) and what it must leave behind."""
import dataclasses
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.data import demo_data
from tests.support.pipeline_runs import executions, small_config

pytestmark = pytest.mark.slow

SPECIES = ["Sora", "House Finch", "Robin", "Araripe Manakin"]
TRAIN = {"Sora": 24, "House Finch": 16, "Robin": 4, "Araripe Manakin": 2}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from pipeline.local_runner import run_pipeline
    tmp = tmp_path_factory.mktemp("e2e")
    demo_data.generate(tmp / "data", seed=3, image_size=48, species=SPECIES, train_counts=TRAIN,
                       test_counts={s: 5 for s in SPECIES})
    # A corrupt file must be rejected and accounted for, not crash the run.
    (tmp / "data" / "train" / "Sora" / "corrupt.jpg").write_bytes(b"\xff\xd8not really a jpeg")
    config = small_config(tmp)
    run_pipeline(config)
    return config


def test_model_is_pushed_in_tf_serving_layout(run):
    versions = os.listdir(run.serving_model_dir)
    assert len(versions) == 1 and versions[0].isdigit()
    assert os.path.exists(os.path.join(run.serving_model_dir, versions[0], "saved_model.pb"))


def test_pushed_model_scores_an_image(run):
    import tensorflow as tf
    version = max(os.listdir(run.serving_model_dir), key=int)
    model = tf.saved_model.load(os.path.join(run.serving_model_dir, version))
    robin_dir = os.path.join(run.data_root, "test", "Robin")
    with open(os.path.join(robin_dir, sorted(os.listdir(robin_dir))[0]), "rb") as handle:
        image_bytes = handle.read()

    out = model.signatures["serving_default"](image_bytes=tf.constant([image_bytes, image_bytes]))
    scores, classes = out["scores"].numpy(), out["classes"].numpy()
    assert scores.shape == (2, 4) and classes.shape == (2, 4)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0), "scores must be sorted best first"
    assert sorted(c.decode() for c in classes[0]) == sorted(SPECIES)

    # serving_examples gives the same answer from a tf.Example, plus label-ordered probabilities.
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes]))}))
    by_example = model.signatures["serving_examples"](
        examples=tf.constant([example.SerializeToString()]))
    np.testing.assert_allclose(by_example["scores"].numpy()[0], scores[0], rtol=1e-5)
    np.testing.assert_allclose(np.sort(by_example["probabilities"].numpy()[0])[::-1], scores[0],
                               rtol=1e-5)


def test_ingestion_accounts_for_every_file(run):
    from pipeline.reports import mlmd
    outputs = mlmd.run_outputs(run.metadata_path, run.pipeline_name)
    with open(os.path.join(outputs["ingest_report"], "summary.json")) as handle:
        report = json.load(handle)
    n_good = sum(TRAIN.values()) + 5 * len(SPECIES)
    assert report["files_read"] == n_good + 1
    assert report["examples_written"] == n_good
    assert report["files_rejected"] == 1
    # No valid/ folder: a share of train is held out for validation; the groups count it.
    counts = report["counts"]
    assert {s: counts["train"].get(s, 0) + counts["valid"].get(s, 0) for s in TRAIN} == TRAIN
    assert report["group_counts"] == TRAIN and sum(counts["valid"].values()) >= 2
    with open(os.path.join(outputs["ingest_report"], "rejected.csv")) as handle:
        rejected = handle.read().splitlines()
    assert len(rejected) == 2 and "train/Sora/corrupt.jpg" in rejected[1]


def test_transform_writes_only_the_splits_the_trainer_reads(run):
    """Train and valid, every example of each; the test split stays raw for the Evaluator."""
    import glob
    import tensorflow as tf
    from components.image_example_gen.executor import count_records

    def newest(component, output):
        return max(glob.glob(os.path.join(run.pipeline_root, component, output, "*")),
                   key=lambda path: int(os.path.basename(path)))

    transformed, ingested = newest("Transform", "transformed_examples"), newest(
        "ImageExampleGen", "examples")
    assert sorted(os.listdir(transformed)) == ["Split-train", "Split-valid"]
    for split in ("train", "valid"):
        written = count_records(os.path.join(ingested, f"Split-{split}"))
        out = sum(1 for _ in tf.data.TFRecordDataset(
            glob.glob(os.path.join(transformed, f"Split-{split}", "*")), "GZIP"))
        assert out == written > 0


def test_evaluation_has_group_and_species_slices(run):
    from pipeline.reports import metrics_table, mlmd
    outputs = mlmd.run_outputs(run.metadata_path, run.pipeline_name)
    table = metrics_table.load(outputs["evaluation"])
    assert table["overall"]["example_count"] == 20
    assert set(table["species"]) == set(SPECIES)
    # 4 species: the two rarest are bottom_2; everything is in bottom_5/10 and top_5/10.
    assert {"bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "medium", "few"} \
        <= set(table["frequency_group"])
    assert table["frequency_group"]["bottom_2"]["example_count"] == 10
    for values in list(table["species"].values()) + [table["overall"]]:
        assert 0.0 <= values["accuracy"] <= 1.0
    assert outputs["blessed"] and outputs["pushed"]


def test_trainer_decides_the_flip_and_the_sampling_and_reports_them(run):
    """The default recipe asks --augmentation auto: the Trainer checks every train and
    validation image (none of test) and trains with what it chose; --sampling auto, which
    the train counts decide; and where the post-hoc tau came from."""
    models = os.path.join(run.pipeline_root, "Trainer", "model")
    first = min(os.listdir(models), key=int)
    with open(os.path.join(models, first, "Format-Serving", "assets.extra",
                           "training_report.json")) as handle:
        report = json.load(handle)
    choice = report["augmentation"]
    assert run.trainer.augmentation == "auto" and choice["asked"] == "auto"
    assert choice["mirror_check"]["images"] == sum(TRAIN.values())
    # Demo shapes are drawn at random rotations: a mirror image is the same species.
    assert choice["chosen"] == "flip_crop" == report["settings"]["augmentation"]
    # A few images a species, far under the recipe's quota of 64: balanced sampling.
    sampling = report["sampling"]
    assert run.trainer.sampling == sampling["asked"] == "auto"
    assert sampling["species_quota"] == 64
    assert sampling["mean_train_images"] == sum(report["train_counts"]) / len(SPECIES) < 64
    assert sampling["chosen"] == "balanced" == report["settings"]["sampling"]
    # A tenth of 4 or 2 train images rounds to none held out: validation cannot judge a tau
    # for those species, and the recipe's fixed one stays.
    assert sorted(report["validation_lacks"]) == ["Araripe Manakin", "Robin"]
    assert report["posthoc_tau"] == 1.0 and report["posthoc_tau_fallback"]
    assert "_lacking_ids" not in report


def test_rerun_reuses_upstream_outputs_and_warm_starts(run):
    """A new training config retrains, but ingestion and Transform come from the cache; with
    --warm-start the Trainer starts from the first (blessed) model's weights."""
    from pipeline.local_runner import run_pipeline
    run_pipeline(dataclasses.replace(run, trainer=dataclasses.replace(
        run.trainer, epochs=2, warm_start=True)))
    assert executions(run, "ImageExampleGen") == ["COMPLETE", "CACHED"]
    assert executions(run, "Transform") == ["COMPLETE", "CACHED"]
    assert executions(run, "Trainer") == ["COMPLETE", "COMPLETE"]
    models = os.path.join(run.pipeline_root, "Trainer", "model")
    first, second = sorted(os.listdir(models), key=int)
    with open(os.path.join(models, second, "Format-Serving", "assets.extra",
                           "training_report.json")) as handle:
        started = json.load(handle)["warm_start"]
    assert started["from"] == os.path.join(models, first, "Format-Serving")
    assert started["layers_kept_fresh"] == [] and "probabilities" in started["layers_loaded"]


def test_anomalies_stop_the_run_before_transform(tmp_path):
    """A species outside the curated schema's domain is an anomaly: no Transform, no Trainer."""
    from pipeline.dataset_schema import SpeciesNotInSchema
    from pipeline.local_runner import run_pipeline
    demo_data.generate(tmp_path / "data", seed=4, image_size=32, species=["Sora", "Robin"],
                       train_counts={"Sora": 4, "Robin": 4}, test_counts={"Sora": 2, "Robin": 2})
    os.rename(tmp_path / "data" / "train" / "Robin", tmp_path / "data" / "train" / "Dodo")
    os.rename(tmp_path / "data" / "test" / "Robin", tmp_path / "data" / "test" / "Dodo")
    config = small_config(tmp_path)
    # The local runner checks the species before it starts anything ...
    with pytest.raises(SpeciesNotInSchema, match="Dodo"):
        run_pipeline(config)
    assert not os.path.exists(config.metadata_path)
    # ... and the pipeline's own gate stops the run where that check cannot be made (remote
    # data on Kubeflow): the same pipeline, run without the local runner's checks.
    from tfx import v1 as tfx
    from pipeline import beam
    from pipeline.configs import SETUP_FILE
    from pipeline.pipeline import create_pipeline
    config = dataclasses.replace(config, beam_args=beam.pipeline_args(
        config.beam_runner, config.beam_args, SETUP_FILE))
    os.makedirs(os.path.dirname(config.metadata_path))
    pipeline = create_pipeline(config, tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.metadata_path), input_fingerprint="anomalies")
    with pytest.raises(Exception, match="Dodo") as failure:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    assert "species" in str(failure.value)
    assert executions(config, "ImageExampleGen") == ["COMPLETE"]
    assert executions(config, "Transform") == []


# -- serving the pushed model: TF Serving warmup, `rarespecies serve`, client and CLI ---------
# (after the rerun above, which may have pushed a second version: the newest is served)
def newest_version(config):
    version = max((v for v in os.listdir(config.serving_model_dir) if v.isdigit()), key=int)
    return version, os.path.join(config.serving_model_dir, version)


def demo_test_images(config) -> list:
    """The first test image of each species (demo data, as a user would send it)."""
    test_dir = os.path.join(config.data_root, "test")
    return [os.path.join(test_dir, s, sorted(os.listdir(os.path.join(test_dir, s)))[0])
            for s in SPECIES]


@pytest.fixture(scope="module")
def served(run, tmp_path_factory):
    """`rarespecies serve` on the pushed model base path, and in-process inference on the same
    version for reference."""
    import tensorflow as tf
    from tests.support.serving_process import start_serve, stop, wait_ready
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    version, path = newest_version(run)
    proc, url = start_serve(run.serving_model_dir, log_path)
    try:
        loaded = tf.saved_model.load(path)  # while the server imports TensorFlow
        signature = loaded.signatures["serving_default"]

        def reference(data: bytes) -> dict:
            out = signature(image_bytes=tf.constant([data]))
            return {"scores": out["scores"].numpy()[0].tolist(),
                    "classes": [c.decode() for c in out["classes"].numpy()[0]]}

        wait_ready(url, proc, log_path, version=version, timeout=240)
        yield SimpleNamespace(url=url, version=version, path=path, loaded=loaded,
                              reference=reference, proc=proc, log=log_path)
    finally:
        stop(proc)


def assert_same(prediction: dict, expected: dict) -> None:
    assert prediction["classes"] == expected["classes"]
    np.testing.assert_allclose(prediction["scores"], expected["scores"], atol=1e-5, rtol=0)


def test_pushed_model_has_warmup_requests_and_species_asset(run, served):
    import tensorflow as tf
    from trainer.export import WARMUP_FILE, read_warmup_requests
    for version in (v for v in os.listdir(run.serving_model_dir) if v.isdigit()):
        assert os.path.isfile(os.path.join(run.serving_model_dir, version, WARMUP_FILE))

    # The species names travel with the model as an asset, and are what `classes` holds.
    with open(os.path.join(served.path, "assets", "species")) as handle:
        assert sorted(handle.read().splitlines()) == sorted(SPECIES)

    logs = read_warmup_requests(os.path.join(served.path, WARMUP_FILE))
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 3 + ["classify_log"]
    signature = served.loaded.signatures["serving_default"]
    for log in logs[:3]:
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert list(request.inputs) == ["image_bytes"]
        assert request.inputs["image_bytes"].dtype == tf.string.as_datatype_enum
        images = tf.make_ndarray(request.inputs["image_bytes"])
        assert images.shape == (1,)
        decoded = tf.io.decode_jpeg(images[0])
        assert decoded.shape == (run.trainer.image_size, run.trainer.image_size, 3)  # model-size eval images
        out = signature(image_bytes=tf.constant(images))  # replays through the signature
        assert out["scores"].shape == (1, len(SPECIES))
        assert_same({"scores": out["scores"].numpy()[0].tolist(),
                     "classes": [c.decode() for c in out["classes"].numpy()[0]]},
                    served.reference(images[0]))


def test_rest_server_answers_like_in_process_inference(run, served):
    import base64
    import requests
    from serving.client import predict
    model_url = f"{served.url}/v1/models/{run.model_name}"
    status = requests.get(model_url, timeout=10).json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [(served.version, "AVAILABLE")]
    meta = requests.get(f"{model_url}/metadata", timeout=10).json()
    default = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert default["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert [d["size"] for d in default["outputs"]["scores"]["tensor_shape"]["dim"]] == [
        "-1", str(len(SPECIES))]
    assert default["outputs"]["classes"]["dtype"] == "DT_STRING"

    paths = demo_test_images(run)
    images = [open(p, "rb").read() for p in paths]
    expected = [served.reference(data) for data in images]

    # The client (row format, bare b64 values).
    results = predict(served.url, run.model_name, paths, top_k=len(SPECIES))
    assert [r["path"] for r in results] == paths
    for result, want in zip(results, expected):
        assert_same({"classes": [p["species"] for p in result["predictions"]],
                     "scores": [p["score"] for p in result["predictions"]]}, want)

    # Raw HTTP: named row format, a pinned version, and the columnar format.
    encoded = [base64.b64encode(data).decode("ascii") for data in images]
    r = requests.post(f"{model_url}/versions/{served.version}:predict", timeout=60,
                      json={"signature_name": "serving_default",
                            "instances": [{"image_bytes": {"b64": e}} for e in encoded]})
    assert r.status_code == 200, r.text
    for prediction, want in zip(r.json()["predictions"], expected):
        assert_same(prediction, want)
    r = requests.post(f"{model_url}:predict", timeout=60,
                      json={"inputs": {"image_bytes": [{"b64": e} for e in encoded]}})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    for i, want in enumerate(expected):
        assert_same({"scores": outputs["scores"][i], "classes": outputs["classes"][i]}, want)

    # The warmup requests replay through the server too.
    import tensorflow as tf
    from trainer.export import WARMUP_FILE, read_warmup_requests
    for log in read_warmup_requests(os.path.join(served.path, WARMUP_FILE)):
        if log.HasField("classify_log"):  # and TF Serving's :classify on the same image
            (example,) = log.classify_log.request.input.example_list.examples
            data = example.features.feature["image"].bytes_list.value[0]
            r = requests.post(f"{model_url}:classify", timeout=60, json={
                "signature_name": "classify",
                "examples": [{"image": {"b64": base64.b64encode(data).decode("ascii")}}]})
            assert r.status_code == 200, r.text
            pairs = r.json()["results"][0]
            assert_same({"classes": [c for c, _ in pairs], "scores": [s for _, s in pairs]},
                        served.reference(data))
            continue
        data = tf.make_ndarray(log.predict_log.request.inputs["image_bytes"])[0]
        r = requests.post(f"{model_url}:predict", timeout=60, json={
            "instances": [{"b64": base64.b64encode(data).decode("ascii")}]})
        assert r.status_code == 200, r.text
        assert_same(r.json()["predictions"][0], served.reference(data))


def test_cli_predict_prints_top3_species_with_the_same_scores(run, served):
    import subprocess
    import sys
    from pathlib import Path
    script = Path(sys.executable).with_name("rarespecies")
    image = demo_test_images(run)[SPECIES.index("Robin")]
    want = served.reference(open(image, "rb").read())

    def cli(*args):
        done = subprocess.run([str(script), "predict", "--url", served.url, *args, image],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    lines = cli().splitlines()
    header = lines[0]
    assert header.split() == ["IMAGE", "RANK", "SPECIES", "SCORE"]
    assert len(lines) == 4 and lines[1].startswith(image)
    species_at, score_at = header.index("SPECIES"), header.index("SCORE")
    rows = [(line[species_at:score_at].strip(), float(line[score_at:])) for line in lines[1:]]
    assert [s for s, _ in rows] == want["classes"][:3]
    np.testing.assert_allclose([s for _, s in rows], want["scores"][:3], atol=5e-5 + 1e-5,
                               rtol=0)  # printed with 4 decimals
    (result,) = json.loads(cli("--json"))
    assert result["path"] == image
    assert_same({"classes": [p["species"] for p in result["predictions"]],
                 "scores": [p["score"] for p in result["predictions"]]},
                {"classes": want["classes"][:3], "scores": want["scores"][:3]})
