"""TF Serving parity and hardening of `rarespecies serve`, in process (the Starlette app through
httpx, no sockets): version labels from a models.config, status of every version, :classify,
signature_name "", gzip bodies, lenient base64, version folder names, warm-up replay, metrics,
the caps on instances and pixels, body timeouts, 4xx for malformed JSON of any depth, 5xx
without internals, a bad image failing only its own request and the abstain label."""
import asyncio
import base64
import contextlib
import gzip
import io
import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from serving.server import ServerConfig, create_app
from tests.support import serving_load
from tests.support.stand_in_model import build_stand_in, image_bytes

pytest.importorskip("httpx")

SPECIES_V1 = ["Snowy Owl", "Puffin", "Razorbill", "Araripe Manakin"]
SPECIES_V2 = ["Quetzal", "Robin", "Crow"]
MODEL = "rarespecies"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Stand-in models to copy into version folders: v1, v2, and v1 sure of nothing."""
    import tensorflow as tf
    root = tmp_path_factory.mktemp("parity")
    build_stand_in(root / "v1", SPECIES_V1, seed=1)
    build_stand_in(root / "v2", SPECIES_V2, seed=2)
    build_stand_in(root / "doubtful", SPECIES_V1, seed=1, abstain_threshold=0.99)
    signatures = {v: tf.saved_model.load(str(root / v)).signatures for v in ("v1", "v2")}

    def reference(data: bytes, version: str = "v1") -> dict:
        out = signatures[version]["serving_default"](image_bytes=tf.constant([data]))
        return {"scores": out["scores"].numpy()[0].tolist(),
                "classes": [c.decode() for c in out["classes"].numpy()[0]]}
    return SimpleNamespace(root=root, reference=reference)


def place(built, base, name: str, folder: str) -> None:
    shutil.copytree(built.root / name, base / folder)


@contextlib.asynccontextmanager
async def serving(config: ServerConfig):
    import httpx
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            client.service = app.state.service
            yield client


def run(config: ServerConfig, scenario):
    async def main():
        async with serving(config) as client:
            return await scenario(client)
    return asyncio.run(main())


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def one_image(data: bytes) -> dict:
    return {"instances": [b64(data)]}


def assert_matches(prediction: dict, expected: dict) -> None:
    assert prediction["classes"] == expected["classes"]
    np.testing.assert_allclose(prediction["scores"], expected["scores"], atol=1e-6, rtol=0)


# -- versions, labels, status, warm-up ---------------------------------------------------------
def write_models_config(path, base, labels: dict, versions=(1, 2)) -> None:
    specific = " ".join(f"versions: {v}" for v in versions)
    label_lines = "\n".join(f'      version_labels {{ key: "{k}" value: {v} }}'
                            for k, v in labels.items())
    path.write_text(f"""model_config_list {{
  config {{
      name: "{MODEL}"
      base_path: "{base}"
      model_platform: "tensorflow"
      model_version_policy {{ specific {{ {specific} }} }}
{label_lines}
  }}
}}
""")
    stat = os.stat(path)  # a new mtime even within the file system's clock resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_labels_from_models_config_route_requests_and_move_without_restart(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    place(built, base, "v2", "2")
    config_file = tmp_path / "models.config"
    write_models_config(config_file, base, {"stable": 1, "canary": 2})
    data = image_bytes(3)

    async def scenario(client):
        url = f"/v1/models/{MODEL}/labels"
        stable = await client.post(f"{url}/stable:predict", json=one_image(data))
        canary = await client.post(f"{url}/canary:predict", json=one_image(data))
        unknown = await client.post(f"{url}/nightly:predict", json=one_image(data))
        status = await client.get(f"/v1/models/{MODEL}")
        label_meta = await client.get(f"{url}/canary/metadata")
        write_models_config(config_file, base, {"stable": 2})
        await asyncio.get_running_loop().run_in_executor(None, client.service.registry.refresh)
        moved = await client.post(f"{url}/stable:predict", json=one_image(data))
        return stable, canary, unknown, status, label_meta, moved

    stable, canary, unknown, status, label_meta, moved = run(
        ServerConfig(model_config_file=str(config_file), poll_seconds=3600), scenario)
    assert_matches(stable.json()["predictions"][0], built.reference(data, "v1"))
    assert_matches(canary.json()["predictions"][0], built.reference(data, "v2"))
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "Unrecognized servable version label: nightly"
    assert [(v["version"], v["state"]) for v in status.json()["model_version_status"]] == \
        [("2", "AVAILABLE"), ("1", "AVAILABLE")]
    assert label_meta.json()["model_spec"]["version"] == "2"
    assert_matches(moved.json()["predictions"][0], built.reference(data, "v2"))


def test_version_folders_are_served_by_their_numbers(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "00000123")  # the layout of TF Serving's own examples
    data = image_bytes(4)

    async def scenario(client):
        return (await client.get(f"/v1/models/{MODEL}"),
                await client.post(f"/v1/models/{MODEL}/versions/123:predict",
                                  json=one_image(data)))
    status, predicted = run(ServerConfig(str(base)), scenario)
    assert status.json()["model_version_status"][0]["version"] == "123"
    assert_matches(predicted.json()["predictions"][0], built.reference(data))


def write_warmup(folder, signature: str, image: bytes) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_log_pb2
    predict = predict_pb2.PredictRequest()
    predict.model_spec.signature_name = signature
    predict.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.signature_name = "classify"
    classify.input.example_list.examples.add().features.feature[
        "image"].bytes_list.value.append(image)
    os.makedirs(folder / "assets.extra", exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "assets.extra" / "tf_serving_warmup_requests")) as w:
        for entry in (prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=predict)),
                prediction_log_pb2.PredictionLog(
                classify_log=prediction_log_pb2.ClassifyLog(request=classify))):
            w.write(entry.SerializeToString())


def test_warmup_is_replayed_and_a_version_whose_warmup_fails_is_not_served(built, tmp_path,
                                                                           caplog):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    write_warmup(base / "1", "serving_default", image_bytes(5))
    data = image_bytes(6)

    async def scenario(client):
        place(built, base, "v2", "2")
        write_warmup(base / "2", "no_such_signature", image_bytes(5))
        await asyncio.get_running_loop().run_in_executor(None, client.service.registry.refresh)
        return (await client.get(f"/v1/models/{MODEL}"),
                await client.post(f"/v1/models/{MODEL}:predict", json=one_image(data)))
    with caplog.at_level("INFO", logger="serving.registry"):
        status, predicted = run(ServerConfig(str(base), poll_seconds=3600), scenario)
    assert "now serving version 1" in caplog.text and "(2 warm-up requests replayed)" in \
        caplog.text
    versions = status.json()["model_version_status"]
    assert [(v["version"], v["state"]) for v in versions] == [("2", "END"), ("1", "AVAILABLE")]
    assert "no_such_signature" in versions[0]["status"]["error_message"]
    assert_matches(predicted.json()["predictions"][0], built.reference(data, "v1"))


def test_removing_the_newest_version_rolls_back_to_the_one_before(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    place(built, base, "v2", "2")
    data = image_bytes(12)

    async def scenario(client):
        before = await client.post(f"/v1/models/{MODEL}:predict", json=one_image(data))
        shutil.rmtree(base / "2")
        await asyncio.get_running_loop().run_in_executor(None, client.service.registry.refresh)
        return before, (await client.post(f"/v1/models/{MODEL}:predict", json=one_image(data)),
                        await client.get(f"/v1/models/{MODEL}"))
    before, (after, status) = run(ServerConfig(str(base), poll_seconds=3600), scenario)
    assert_matches(before.json()["predictions"][0], built.reference(data, "v2"))
    assert_matches(after.json()["predictions"][0], built.reference(data, "v1"))
    assert [(v["version"], v["state"]) for v in status.json()["model_version_status"]] == \
        [("2", "END"), ("1", "AVAILABLE")]


# -- request formats ---------------------------------------------------------------------------
def test_classify_signature_name_gzip_and_lenient_base64(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    data = image_bytes(7)
    encoded = base64.b64encode(data).decode("ascii")
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)).rstrip("=")

    async def scenario(client):
        url = f"/v1/models/{MODEL}"
        return {
            "classify": await client.post(f"{url}:classify", json={
                "signature_name": "classify", "examples": [{"image": b64(data)}]}),
            "classify_context": await client.post(f"{url}/versions/1:classify", json={
                "signature_name": "classify", "context": {"image": b64(data)},
                "examples": [{}, {}]}),
            "classify_default": await client.post(f"{url}:classify", json={
                "examples": [{"image": b64(data)}]}),
            "empty_name": await client.post(f"{url}:predict", json={
                "signature_name": "", "instances": [b64(data)]}),
            "gzip": await client.post(f"{url}:predict", content=gzip.compress(
                json.dumps(one_image(data)).encode()), headers={"Content-Encoding": "gzip"}),
            "wrapped": await client.post(f"{url}:predict",
                                         json={"instances": [{"b64": wrapped}]}),
            "url_safe": await client.post(f"{url}:predict", json={
                "instances": [{"b64": base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode()}]}),
            "regress": await client.post(f"{url}:regress", json={"examples": [{}]}),
        }
    answers = run(ServerConfig(str(base)), scenario)
    expected = built.reference(data)
    results = answers["classify"].json()["results"]
    assert [c for c, _ in results[0]] == expected["classes"]
    np.testing.assert_allclose([s for _, s in results[0]], expected["scores"], atol=1e-6)
    # The context's image in each of two examples: the same answer twice (a batch of 2 may
    # round differently from a batch of 1 on some CPUs, hence the tolerance).
    in_context = answers["classify_context"].json()["results"]
    assert len(in_context) == 2
    for answer in in_context:
        assert [c for c, _ in answer] == [c for c, _ in results[0]]
        np.testing.assert_allclose([s for _, s in answer], [s for _, s in results[0]],
                                   rtol=1e-5)
    # serving_default takes image_bytes, not tf.Examples: TF Serving's answer is a 400 too.
    assert answers["classify_default"].status_code == 400
    assert "not a classification signature" in answers["classify_default"].json()["error"]
    for name in ("empty_name", "gzip", "wrapped"):
        assert answers[name].status_code == 200, (name, answers[name].text)
        assert_matches(answers[name].json()["predictions"][0], expected)
    assert answers["url_safe"].status_code == 400
    assert answers["regress"].status_code == 400


def test_metrics_count_requests_latency_batches_and_errors(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")

    async def scenario(client):
        url = f"/v1/models/{MODEL}:predict"
        for _ in range(3):
            await client.post(url, json={"instances": [b64(image_bytes(1))] * 2})
        await client.post(url, content=b"{not json")
        await client.post(f"/v1/models/{MODEL}/versions/9:predict", json=one_image(b"x"))
        for verb in ("aaa", "aab"):  # made-up verbs share one series
            await client.post(f"/v1/models/{MODEL}:{verb}", json={})
        return await client.get("/monitoring/prometheus/metrics")
    page = run(ServerConfig(str(base), batch_timeout_ms=0), scenario)
    assert page.status_code == 200
    lines = set(page.text.splitlines())
    model = f'model_name="{MODEL}"'
    assert f':tensorflow:serving:request_count{{{model},API="predict",status="OK"}} 3' in lines
    assert (f':tensorflow:serving:request_count{{{model},API="predict",'
            f'status="INVALID_ARGUMENT"}} 1') in lines
    assert f'rarespecies_http_responses_total{{{model},code="404"}} 3' in lines
    assert f':tensorflow:serving:request_count{{{model},API="unknown",status="NOT_FOUND"}} 2' \
        in lines
    assert not any("aaa" in line for line in lines)
    assert f':tensorflow:serving:request_latency_count{{{model},API="predict",' \
           f'entrypoint="REST"}} 3' in lines
    # Three model calls of two rows each.
    assert f'rarespecies_batch_size_bucket{{{model},le="1"}} 0' in lines
    assert f'rarespecies_batch_size_bucket{{{model},le="2"}} 3' in lines


# -- hardening ---------------------------------------------------------------------------------
def tiny_example(image: bytes) -> dict:
    return {"image": b64(image)}


def test_caps_on_instances_and_pixels_name_the_cap(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    small = image_bytes(8, size=(100, 100))  # 10,000 pixels
    huge = serving_load.huge_dimensions_jpeg()

    async def scenario(client):
        url = f"/v1/models/{MODEL}"
        return {
            "instances": await client.post(f"{url}:predict",
                                           json={"instances": [b64(small)] * 5}),
            "pixels": await client.post(f"{url}:predict", json={"instances": [b64(small)] * 3}),
            "under": await client.post(f"{url}:predict", json={"instances": [b64(small)] * 2}),
            "examples": await client.post(f"{url}:predict", json={
                "signature_name": "serving_examples",
                "instances": [{"examples": b64(_serialized_example(huge))}]}),
            "classify": await client.post(f"{url}:classify", json={
                "signature_name": "classify", "examples": [tiny_example(huge)]}),
            "no_header": await client.post(f"{url}:predict",
                                           json={"instances": [b64(headless_gif())]}),
            "long_version": await client.get(f"{url}/versions/{'9' * 5000}"),
        }
    answers = run(ServerConfig(str(base), max_instances=4, max_request_pixels=25_000), scenario)
    assert answers["instances"].status_code == 413
    assert "5 instances, over the limit of 4" in answers["instances"].json()["error"]
    assert answers["pixels"].status_code == 413
    assert "--max-request-pixels" in answers["pixels"].json()["error"]
    assert answers["under"].status_code == 200
    # Bytes whose header names no format are not counted and passed on: TF decodes this one.
    assert answers["no_header"].status_code == 400
    assert "not a decodable image" in answers["no_header"].json()["error"]
    assert answers["long_version"].status_code == 404
    for name in ("examples", "classify"):  # images inside tf.Examples are guarded too
        assert answers[name].status_code == 413, (name, answers[name].text)
        assert "12000x12000 pixels" in answers[name].json()["error"]


def headless_gif(side: int = 2000) -> bytes:
    """A GIF whose signature is mangled (GIF8Xa): PIL reads no size, TensorFlow still decodes."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, "GIF")
    return b"GIF8Xa" + buffer.getvalue()[6:]


def _serialized_example(image: bytes) -> bytes:
    from tensorflow.core.example import example_pb2
    example = example_pb2.Example()
    example.features.feature["image"].bytes_list.value.append(image)
    return example.SerializeToString()


def test_malformed_json_of_any_depth_is_a_400_and_500s_tell_no_internals(built, tmp_path,
                                                                         caplog):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    data = image_bytes(9)

    async def scenario(client):
        url = f"/v1/models/{MODEL}:predict"
        answers = {depth: await client.post(url, content=b"[" * depth + b"]" * depth)
                   for depth in (10, 1000, 100_000)}
        answers["deep_instance"] = await client.post(
            url, content=b'{"instances": [' + b"[" * 5000 + b"]" * 5000 + b"]}")
        registry = client.service.registry
        original = registry.get

        def broken(*args, **kwargs):
            raise RuntimeError("disk /secret/path exploded")
        registry.get = broken
        answers["broken"] = await client.post(url, json=one_image(data))
        registry.get = original
        answers["after"] = await client.post(url, json=one_image(data))
        return answers
    with caplog.at_level("ERROR", logger="serving.server"):
        answers = run(ServerConfig(str(base)), scenario)
    for key in (10, 1000, 100_000, "deep_instance"):
        assert answers[key].status_code == 400, (key, answers[key].text)
        assert "error" in answers[key].json()
    broken = answers["broken"]
    assert broken.status_code == 500
    assert "secret" not in broken.text and "incident" in broken.json()["error"]
    incident = broken.json()["error"].split("incident ")[1].split(";")[0]
    assert incident in caplog.text and "/secret/path" in caplog.text  # logged here only
    assert_matches(answers["after"].json()["predictions"][0], built.reference(data))


def test_a_bad_image_fails_only_its_own_request(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    images = [image_bytes(20 + i) for i in range(5)]

    async def scenario(client):
        url = f"/v1/models/{MODEL}:predict"
        good = [client.post(url, json=one_image(d)) for d in images]
        bad = client.post(url, json={"instances": [b64(images[0]), b64(b"not an image")]})
        answers = await asyncio.gather(*good, bad)
        return answers, client.service.batcher
    answers, batcher = run(ServerConfig(str(base), batch_timeout_ms=300, max_batch_size=16),
                           scenario)
    for data, answer in zip(images, answers[:5]):
        assert answer.status_code == 200
        assert_matches(answer.json()["predictions"][0], built.reference(data))
    assert answers[5].status_code == 400
    assert answers[5].json()["error"].startswith("instance 1: 'image_bytes' is not a decodable")


def test_slow_uploads_time_out_and_do_not_count_as_in_flight(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "v1", "1")
    data = image_bytes(10)

    async def scenario(client):
        app = client._transport.app
        sent = []

        async def receive():  # half a body, then nothing
            if not sent:
                sent.append(1)
                return {"type": "http.request", "body": b'{"instances": [', "more_body": True}
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": f"/v1/models/{MODEL}:predict",
                 "raw_path": f"/v1/models/{MODEL}:predict".encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"content-type", b"application/json")],
                 "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80)}
        stalled = [asyncio.create_task(app(scope, receive, send)) for _ in range(3)]
        await asyncio.sleep(0.2)
        meanwhile = await client.post(f"/v1/models/{MODEL}:predict", json=one_image(data))
        await asyncio.gather(*stalled)
        return meanwhile, [m for m in sent if isinstance(m, dict)]
    meanwhile, messages = run(ServerConfig(str(base), max_inflight=1, body_timeout_s=1.5),
                              scenario)
    assert meanwhile.status_code == 200  # three stalled uploads, limit 1: still served
    starts = [m for m in messages if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [408] * 3
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert b"did not arrive within 1.5 s" in body


# -- abstaining --------------------------------------------------------------------------------
def test_label_is_unknown_below_the_models_threshold_or_the_override(built, tmp_path):
    base = tmp_path / "models"
    place(built, base, "doubtful", "1")  # trained threshold 0.99
    data = image_bytes(11)
    expected = built.reference(data)

    async def scenario(client):
        return (await client.post(f"/v1/models/{MODEL}:predict", json=one_image(data))).json()
    own = run(ServerConfig(str(base)), scenario)["predictions"][0]
    lowered = run(ServerConfig(str(base), min_confidence=0.0), scenario)["predictions"][0]
    assert own["label"] == "unknown" and expected["scores"][0] < 0.99
    assert_matches(own, expected)  # scores and classes are untouched
    assert lowered["label"] == expected["classes"][0]
