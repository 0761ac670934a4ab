"""The serving package: a real `rarespecies serve` process on a stand-in SavedModel, called with
the client, the CLI and raw HTTP; plus the batcher on its own and (when installed) the real
tensorflow_model_server on the same model directory."""
import asyncio
import base64
import concurrent.futures
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import requests

from serving.batching import Batcher
from serving.client import PredictError, expand_image_paths, predict
from tests.support.serving_process import free_port, stop, wait_ready
from tests.support.stand_in_model import build_stand_in, image_bytes, push

REPO = Path(__file__).resolve().parents[2]
MODEL = "rarespecies"
SPECIES_V1 = ["Snowy Owl", "Puffin", "Razorbill", "Araripe Manakin"]
SPECIES_V2 = ["Quetzal", "Robin", "Crow"]
BODY_LIMIT = 300_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One stand-in model (two versions), a folder of images and a running server."""
    root = tmp_path_factory.mktemp("serving")
    base = root / "models"
    base.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        # Start the server on the still-empty base path first: its TensorFlow import overlaps
        # with building the models here, and it must pick up version 1 by polling.
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--model-base-path", str(base),
             "--port", url.rsplit(":", 1)[1], "--poll-seconds", "0.3", "--max-batch-size", "8",
             "--batch-timeout-ms", "20", "--max-body-bytes", str(BODY_LIMIT)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        import tensorflow as tf
        build_stand_in(root / "v1", SPECIES_V1, seed=1)
        build_stand_in(root / "v2", SPECIES_V2, seed=2)
        push(root / "v1", base, 1)

        images = root / "images"
        for rel, seed, fmt in [("b/owl.jpg", 1, "JPEG"), ("a/puffin.png", 2, "PNG"),
                               ("a/deep/er/crow.JPEG", 3, "JPEG"), ("a/.hidden.jpg", 4, "JPEG"),
                               (".cache/skip.jpg", 5, "JPEG")]:
            (images / rel).parent.mkdir(parents=True, exist_ok=True)
            (images / rel).write_bytes(image_bytes(seed, fmt))
        (images / "a" / "notes.txt").write_text("not an image")

        signatures = {v: tf.saved_model.load(str(root / v)).signatures for v in ("v1", "v2")}

        def reference(data: bytes, version: str = "v1") -> dict:
            out = signatures[version]["serving_default"](image_bytes=tf.constant([data]))
            return {"scores": out["scores"].numpy()[0].tolist(),
                    "classes": [c.decode() for c in out["classes"].numpy()[0]]}

        wait_ready(url, proc, log_path)
        yield SimpleNamespace(url=url, base=base, root=root, images=images, proc=proc,
                              reference=reference, log=log_path)
    finally:
        stop(proc)


def predict_url(env, version=None, model=MODEL) -> str:
    versions = f"/versions/{version}" if version else ""
    return f"{env.url}/v1/models/{model}{versions}:predict"


def assert_matches(prediction: dict, expected: dict) -> None:
    assert prediction["classes"] == expected["classes"]
    np.testing.assert_allclose(prediction["scores"], expected["scores"], atol=1e-6, rtol=0)


def assert_still_serving(env) -> None:
    data = image_bytes(7)
    r = requests.post(predict_url(env), json={"instances": [{"b64": b64(data)}]}, timeout=30)
    assert r.status_code == 200, r.text
    assert_matches(r.json()["predictions"][0], env.reference(data))


# -- status and metadata ---------------------------------------------------------------------
def test_status_and_metadata(env):
    status = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                        "status": {"error_code": "OK", "error_message": ""}}]}
    for path in (f"/v1/models/{MODEL}", f"/v1/models/{MODEL}/versions/1"):
        r = requests.get(env.url + path, timeout=10)
        assert r.status_code == 200 and r.json() == status

    for path in (f"/v1/models/{MODEL}/metadata", f"/v1/models/{MODEL}/versions/1/metadata"):
        meta = requests.get(env.url + path, timeout=10).json()
        assert meta["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
        defs = meta["metadata"]["signature_def"]["signature_def"]
        default = defs["serving_default"]
        assert default["method_name"] == "tensorflow/serving/predict"
        assert default["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
        assert default["inputs"]["image_bytes"]["tensor_shape"]["dim"] == [
            {"size": "-1", "name": ""}]
        assert default["outputs"]["scores"]["dtype"] == "DT_FLOAT"
        assert [d["size"] for d in default["outputs"]["scores"]["tensor_shape"]["dim"]] == [
            "-1", "4"]
        assert default["outputs"]["classes"]["dtype"] == "DT_STRING"
        assert set(defs["serving_examples"]["outputs"]) == {"scores", "classes", "probabilities"}


# -- predict ---------------------------------------------------------------------------------
def test_predict_row_and_columnar_formats_match_in_process_inference(env):
    images = [image_bytes(10), image_bytes(11, "PNG", size=(40, 30)), image_bytes(12)]
    expected = [env.reference(d) for d in images]
    row_bodies = [{"instances": [{"b64": b64(d)} for d in images]},
                  {"instances": [{"image_bytes": {"b64": b64(d)}} for d in images],
                   "signature_name": "serving_default"}]
    for url in (predict_url(env), predict_url(env, version=1)):
        for body in row_bodies:
            r = requests.post(url, json=body, timeout=30)
            assert r.status_code == 200, r.text
            predictions = r.json()["predictions"]
            assert len(predictions) == 3
            for prediction, want in zip(predictions, expected):
                assert set(prediction) == {"scores", "classes", "label"}
                assert prediction["label"] == want["classes"][0]  # threshold 0: never unknown
                assert_matches(prediction, want)

    for inputs in ({"image_bytes": [{"b64": b64(d)} for d in images]},
                   [{"b64": b64(d)} for d in images]):
        r = requests.post(predict_url(env), json={"inputs": inputs}, timeout=30)
        assert r.status_code == 200, r.text
        outputs = r.json()["outputs"]
        for i, want in enumerate(expected):
            assert_matches({"scores": outputs["scores"][i], "classes": outputs["classes"][i]},
                           want)


def test_serving_examples_signature(env):
    import tensorflow as tf
    data = image_bytes(20)
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}))
    r = requests.post(predict_url(env), timeout=30, json={
        "signature_name": "serving_examples",
        "instances": [{"b64": b64(example.SerializeToString())}]})
    assert r.status_code == 200, r.text
    prediction = r.json()["predictions"][0]
    assert_matches(prediction, env.reference(data))
    assert sorted(prediction["probabilities"], reverse=True) == pytest.approx(
        prediction["scores"], abs=1e-6)


# -- client and CLI --------------------------------------------------------------------------
def test_client_expands_folders_and_matches_in_process_inference(env):
    files = expand_image_paths([env.images])
    rel = [p.relative_to(env.images).as_posix() for p in files]
    assert rel == ["a/deep/er/crow.JPEG", "a/puffin.png", "b/owl.jpg"]  # sorted, no hidden

    single = env.images / "b" / "owl.jpg"
    results = predict(env.url, MODEL, [env.images, single], top_k=2, batch_size=2)
    assert [r["path"] for r in results] == [str(p) for p in files] + [str(single)]
    for result in results:
        want = env.reference(Path(result["path"]).read_bytes())
        assert [p["species"] for p in result["predictions"]] == want["classes"][:2]
        np.testing.assert_allclose([p["score"] for p in result["predictions"]],
                                   want["scores"][:2], atol=1e-6, rtol=0)
    everything = predict(env.url, MODEL, str(single), top_k=10, version=1)[0]["predictions"]
    assert_matches({"classes": [p["species"] for p in everything],
                    "scores": [p["score"] for p in everything]},
                   env.reference(single.read_bytes()))


def test_client_errors(env, tmp_path):
    good = env.images / "b" / "owl.jpg"
    with pytest.raises(PredictError, match="cannot reach server.*Connection refused"):
        predict(f"http://127.0.0.1:{free_port()}", MODEL, [good], timeout=5)
    with pytest.raises(PredictError, match=r"HTTP 404 .*Servable not found") as err:
        predict(env.url, "no-such-model", [good])
    assert err.value.status == 404
    with pytest.raises(PredictError, match="HTTP 400 .*not a decodable image"):
        (tmp_path / "fake.jpg").write_bytes(b"not really a jpeg")
        predict(env.url, MODEL, [tmp_path / "fake.jpg"])
    with pytest.raises(PredictError, match="cannot read image .*missing.jpg"):
        predict(env.url, MODEL, [tmp_path / "missing.jpg"])
    unreadable = tmp_path / "locked.jpg"
    unreadable.write_bytes(image_bytes(1))
    unreadable.chmod(0)
    try:
        if not _can_read(unreadable):  # root reads anything
            with pytest.raises(PredictError, match="cannot read image .*locked.jpg"):
                predict(env.url, MODEL, [unreadable])
    finally:
        unreadable.chmod(0o644)


def _can_read(path: Path) -> bool:
    try:
        path.read_bytes()
        return True
    except OSError:
        return False


def test_cli_predict(env, tmp_path, capsys):
    from pipeline.cli import main
    owl = env.images / "b" / "owl.jpg"
    want = env.reference(owl.read_bytes())

    assert main(["predict", "--url", env.url, "--model", MODEL, str(owl), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["IMAGE", "RANK", "SPECIES", "SCORE"]
    assert lines[1].startswith(str(owl)) and want["classes"][0] in lines[1]
    assert lines[2].split()[0] == "2" and want["classes"][1] in lines[2]

    csv_path = tmp_path / "out.csv"
    assert main(["predict", "--url", env.url, str(env.images), "--json", "--csv",
                 str(csv_path)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 3 and all(len(r["predictions"]) == 3 for r in results)
    assert csv_path.read_text().splitlines()[0] == "path,rank,species,score"
    assert len(csv_path.read_text().splitlines()) == 1 + 9

    assert main(["predict", "--url", env.url, str(tmp_path / "nope.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read image") and err.count("\n") == 1


# -- bad requests ----------------------------------------------------------------------------
GOOD = {"instances": [{"b64": b64(image_bytes(3))}]}
JPEG = image_bytes(4, size=(64, 64))
PREDICT = MODEL + ":predict"
TRUNCATED = JPEG[:len(JPEG) // 2]
BAD_REQUESTS = {
    # name: (method, path after /v1/models/, body: bytes, dict or generator factory,
    #        expected status, part of the error message)
    "malformed-json": ("POST", PREDICT, b'{"instances": [', 400, "JSON"),
    "not-an-object": ("POST", PREDICT, b"[1, 2]", 400, "JSON object"),
    "not-utf8": ("POST", PREDICT, b"\xff\xfe{", 400, "JSON"),
    "missing-instances": ("POST", PREDICT, {"signature_name": "serving_default"}, 400,
                          "Missing 'instances' or 'inputs'"),
    "both-keys": ("POST", PREDICT, {"instances": [], "inputs": []}, 400, "Only one"),
    "empty-instances": ("POST", PREDICT, {"instances": []}, 400, "empty"),
    "empty-inputs": ("POST", PREDICT, {"inputs": {"image_bytes": []}}, 400, "empty"),
    "bad-base64": ("POST", PREDICT, {"instances": [{"b64": "not*base64!"}]}, 400, "base64"),
    "not-an-image": ("POST", PREDICT, {"instances": [{"b64": b64(b"hello world")}]}, 400,
                     "not a decodable image"),
    "truncated-jpeg": ("POST", PREDICT, {"instances": [{"b64": b64(TRUNCATED)}]}, 400,
                       "not a decodable image"),
    "number-not-bytes": ("POST", PREDICT, {"instances": [1, 2]}, 400, "string tensor"),
    "unknown-input": ("POST", PREDICT, {"instances": [{"pixels": {"b64": b64(JPEG)}}]}, 400,
                      "missing input"),
    "wrong-rank": ("POST", PREDICT, {"instances": [[{"b64": b64(JPEG)}]]}, 400, "rank"),
    "unknown-signature": ("POST", PREDICT, dict(GOOD, signature_name="nope"), 400, "signature"),
    "unknown-model": ("POST", "other:predict", GOOD, 404, "Servable not found"),
    "unknown-model-status": ("GET", "other", None, 404, "other"),
    "unknown-version": ("POST", MODEL + "/versions/99:predict", GOOD, 404, "Servable not found"),
    "unknown-version-metadata": ("GET", MODEL + "/versions/99/metadata", None, 404, "not found"),
    "unknown-verb": ("POST", MODEL + ":explode", GOOD, 404, ":explode"),
    "get-predict": ("GET", PREDICT, None, 405, "POST"),
    "bad-path": ("GET", MODEL + "/labels/stable/x", None, 404, "Malformed"),
    "too-large-content-length": ("POST", PREDICT, b"x" * (BODY_LIMIT + 1), 413, "limit"),
    "too-large-chunked": ("POST", PREDICT,
                          lambda: (b"x" * 50_000 for _ in range(BODY_LIMIT // 50_000 + 2)),
                          413, "limit"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_tf_serving_error_and_server_keeps_serving(env, case):
    method, path, body, status, message = BAD_REQUESTS[case]
    url = f"{env.url}/v1/models/{path}"
    kwargs = {"json": body} if isinstance(body, dict) else {
        "data": body() if callable(body) else body}  # a generator is sent chunked
    r = requests.request(method, url, timeout=30, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["error"]
    assert_still_serving(env)


# -- batching --------------------------------------------------------------------------------
def test_batcher_batches_within_limits_and_isolates_failures():
    calls = []

    def run(key, inputs):
        x = inputs["x"]
        calls.append((key, len(x)))
        if (x < 0).any():
            raise ValueError("negative input")
        return {"y": x * 10 + (1 if key == "b" else 0)}

    async def main():
        batcher = Batcher(run, max_batch_size=8, timeout_s=0.05)
        batcher.start()
        try:
            jobs = [batcher.submit("a", {"x": np.array([i, i + 100])}, 2) for i in range(10)]
            jobs += [batcher.submit("b", {"x": np.array([7])}, 1),
                     batcher.submit("a", {"x": np.array([-1])}, 1)]
            return await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    for i in range(10):
        assert results[i]["y"].tolist() == [i * 10, (i + 100) * 10]
    assert results[10]["y"].tolist() == [71]  # keys are never mixed in one call
    assert isinstance(results[11], ValueError)  # only the bad request failed
    assert max(rows for _, rows in calls) <= 8
    assert any(rows > 2 for _, rows in calls)  # requests really were batched


def test_concurrent_requests_are_batched_without_mixing_rows(env):
    images = [image_bytes(100 + i, "PNG" if i % 3 else "JPEG", size=(16 + i, 12 + i))
              for i in range(16)]
    bodies = [{"instances": [{"b64": b64(d)}] * (1 + i % 2)} for i, d in enumerate(images)]
    bad = [{"instances": [{"b64": b64(b"garbage")}]}, {"instances": [{"b64": "%%%"}]}]
    assert len({tuple(env.reference(d)["classes"]) for d in images}) > 4  # answers differ

    def call(body):
        with requests.Session() as session:  # one connection per request
            return session.post(predict_url(env), json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(len(bodies) + len(bad)) as pool:
        responses = list(pool.map(call, bodies + bad))
    for data, body, r in zip(images, bodies, responses):
        assert r.status_code == 200, r.text
        predictions = r.json()["predictions"]
        assert len(predictions) == len(body["instances"])
        for prediction in predictions:
            assert_matches(prediction, env.reference(data))
    assert [r.status_code for r in responses[len(bodies):]] == [400, 400]


# -- new versions (keep last among the tests that share the server: it swaps the model) -----
def test_new_version_is_picked_up_without_restart(env):
    push(env.root / "v2", env.base, 2)
    wait_ready(env.url, env.proc, env.log, version="2", timeout=30)
    data = image_bytes(30)
    r = requests.post(predict_url(env), json={"instances": [{"b64": b64(data)}]}, timeout=30)
    prediction = r.json()["predictions"][0]
    assert set(prediction["classes"]) == set(SPECIES_V2)
    assert_matches(prediction, env.reference(data, "v2"))
    assert requests.post(predict_url(env, version=2), json=GOOD, timeout=30).status_code == 200
    r = requests.post(predict_url(env, version=1), json=GOOD, timeout=30)
    assert r.status_code == 404 and "Servable not found" in r.json()["error"]
    meta = requests.get(f"{env.url}/v1/models/{MODEL}/metadata", timeout=10).json()
    assert meta["model_spec"]["version"] == "2"
    assert env.proc.poll() is None  # same process throughout


# -- the real TF Serving on the same layout --------------------------------------------------
@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not on PATH")
def test_client_against_real_tensorflow_model_server(env, tmp_path):
    """The same layout, client, labels and :classify request against TF Serving itself."""
    base = tmp_path / "models"
    base.mkdir()
    push(env.root / "v1", base, 1)
    push(env.root / "v2", base, 2)
    config_file = tmp_path / "models.config"
    config_file.write_text(f"""model_config_list {{ config {{
  name: "{MODEL}" base_path: "{base}" model_platform: "tensorflow"
  model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
  version_labels {{ key: "stable" value: 1 }} version_labels {{ key: "canary" value: 2 }}
}} }}""")
    port = free_port()
    log_path = tmp_path / "tfs.log"
    with open(log_path, "w") as log:
        # Labels are given before the versions load: TF Serving then needs this flag.
        proc = subprocess.Popen(
            ["tensorflow_model_server", f"--port={free_port()}", f"--rest_api_port={port}",
             f"--model_config_file={config_file}",
             "--allow_version_labels_for_unavailable_models=true"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log_path, version="1", timeout=60)
        wait_ready(url, proc, log_path, version="2", timeout=60)
        owl = env.images / "b" / "owl.jpg"
        result = predict(url, MODEL, [owl], top_k=4, version=1)[0]
        want = env.reference(owl.read_bytes())
        assert [p["species"] for p in result["predictions"]] == want["classes"]
        np.testing.assert_allclose([p["score"] for p in result["predictions"]],
                                   want["scores"], atol=1e-6, rtol=0)
        stable = requests.post(f"{url}/v1/models/{MODEL}/labels/stable:predict",
                               json={"instances": [{"b64": b64(owl.read_bytes())}]}, timeout=30)
        assert_matches(stable.json()["predictions"][0], want)
        classified = requests.post(f"{url}/v1/models/{MODEL}/versions/1:classify", json={
            "signature_name": "classify", "examples": [{"image": {"b64": b64(owl.read_bytes())}}]},
            timeout=30).json()
        assert [c for c, _ in classified["results"][0]] == want["classes"]
    finally:
        stop(proc)
