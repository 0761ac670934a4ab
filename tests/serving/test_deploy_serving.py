"""deploy/serving: the Kubernetes manifests parse and agree with each other, and the TF Serving
model config (file and ConfigMap copy) parses as a ModelServerConfig with stable/canary labels."""
import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

SERVING = Path(__file__).resolve().parents[2] / "deploy" / "serving"
MODEL = "rarespecies"
IMAGE = "tensorflow/serving:2.15.1"


def load(name: str) -> dict:
    documents = [d for d in yaml.safe_load_all((SERVING / "kubernetes" / name).read_text()) if d]
    by_kind = {}
    for document in documents:
        assert document["apiVersion"] and document["metadata"]["name"]
        assert document["kind"] not in by_kind, f"two {document['kind']}s in {name}"
        by_kind[document["kind"]] = document
    return by_kind


def parse_model_config(text: str):
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    return model


def flags(container: dict) -> dict:
    assert container["command"] == ["tensorflow_model_server"]
    parsed = {}
    for arg in container["args"]:
        match = re.fullmatch(r"--(\w+)=(.+)", arg)
        assert match, f"not a --flag=value argument: {arg}"
        parsed[match[1]] = match[2]
    return parsed


def check_deployment_and_service(docs: dict) -> dict:
    deployment, service = docs["Deployment"], docs["Service"]
    assert deployment["apiVersion"] == "apps/v1" and service["apiVersion"] == "v1"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()

    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    args = flags(container)
    assert args["port"] == "8500" and args["rest_api_port"] == "8501"
    assert {(p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        (8501, "http"), (8500, "grpc")}
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] == "http" and probe["path"].startswith(f"/v1/models/{MODEL}/")

    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts.values()) == set(volumes)
    return dict(args=args, volumes=volumes, mounts=mounts)


def test_pvc_manifest():
    docs = load("tf-serving-pvc.yaml")
    assert set(docs) == {"PersistentVolumeClaim", "Deployment", "Service"}
    found = check_deployment_and_service(docs)
    assert found["args"]["model_name"] == MODEL
    base = found["args"]["model_base_path"]
    assert base == f"/models/{MODEL}"
    # The base path lies on the mounted claim, and the claim is the one this file creates.
    (mount,) = [m for m in found["mounts"] if base.startswith(m.rstrip("/") + "/")]
    volume = found["volumes"][found["mounts"][mount]]
    assert volume["persistentVolumeClaim"]["claimName"] == \
        docs["PersistentVolumeClaim"]["metadata"]["name"]


def test_gcs_manifest_serves_the_config_map_with_labels():
    docs = load("tf-serving-gcs.yaml")
    assert set(docs) == {"ServiceAccount", "ConfigMap", "Deployment", "Service"}
    found = check_deployment_and_service(docs)
    args = found["args"]
    assert "model_base_path" not in args and "model_name" not in args
    assert args["allow_version_labels_for_unavailable_models"] == "true"
    assert int(args["model_config_file_poll_wait_seconds"]) > 0
    config_dir, file_name = args["model_config_file"].rsplit("/", 1)
    volume = found["volumes"][found["mounts"][config_dir]]
    config_map = docs["ConfigMap"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    model = parse_model_config(config_map["data"][file_name])
    assert model.name == MODEL and model.base_path.startswith("gs://")
    assert docs["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == \
        docs["ServiceAccount"]["metadata"]["name"]
    assert_labels(model)


def assert_labels(model) -> None:
    assert model.model_platform == "tensorflow"
    versions = set(model.model_version_policy.specific.versions)
    assert set(model.version_labels) == {"stable", "canary"}
    assert set(model.version_labels.values()) <= versions and len(versions) == 2


def test_models_config_file():
    model = parse_model_config((SERVING / "models.config").read_text())
    assert model.name == MODEL and model.base_path == f"/models/{MODEL}"
    assert_labels(model)
    # The ConfigMap copy differs only in where the versions live.
    in_map = parse_model_config(load("tf-serving-gcs.yaml")["ConfigMap"]["data"]["models.config"])
    in_map.base_path = model.base_path
    assert in_map == model


@pytest.mark.parametrize("flag", ["--model_config_file=/config/models.config",
                                  "--allow_version_labels_for_unavailable_models=true",
                                  "--model_config_file_poll_wait_seconds"])
def test_readme_documents_the_flags(flag):
    assert flag in (SERVING / "README.md").read_text()


def test_readme_docker_command():
    readme = (SERVING / "README.md").read_text()
    command = re.search(r"```bash\n(docker run [^`]*?)\n```", readme)[1]
    assert "-p 8501:8501" in command and f"-t {IMAGE}" in command
    assert f"-e MODEL_NAME={MODEL}" in command
    assert (f'source="$PWD/out/serving_model/{MODEL}",target=/models/{MODEL}') in command
