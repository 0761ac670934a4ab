"""`rarespecies compile` (both Kubeflow engines) and `rarespecies submit`.

No cluster here: the packages are read back with KFP's own loader (kfp 1.8.22's Client) and
pipeline-spec proto, and the Argo workflow with the TFX IR proto each step carries; `submit`
meets a closed port and a stand-in for the KFP API, both on 127.0.0.1. One module fixture
compiles both packages in this process (TFX's import dominates the time).
"""
import json
import re
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from pipeline import cli, kfp_client, kubeflow_runner

IMAGE = "registry.example.com/wildlife/rarespecies:test-1"
OUTPUT_DIR = "gs://test-bucket/rarespecies"
PIPELINE_ROOT = f"{OUTPUT_DIR}/pipelines/rarespecies"
DATA_ROOT = "gs://test-bucket/rarespecies/data/demo-v1"
TRAINING = ["--epochs", "7", "--loss", "class_balanced_focal", "--beta", "0.99",
            "--image-size", "96", "--batch-size", "16", "--min-accuracy", "0.2"]
DATAFLOW = ["--beam-runner", "DataflowRunner", "--beam-arg=--project=test-project",
            "--beam-arg=--region=europe-west4", "--beam-arg=--temp_location=gs://test-bucket/tmp"]
BEAM_EXPECTED = ["--runner=DataflowRunner", "--project=test-project", "--region=europe-west4",
                 "--temp_location=gs://test-bucket/tmp", "--setup_file=/app/setup.py"]

# In create_pipeline()'s order, which is a topological order of the DAG.
COMPONENTS = ["ImageExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator",
              "species_drift", "ValidationGate", "Transform", "Trainer",
              "latest_blessed_model_resolver", "Evaluator", "Pusher"]
UPSTREAM = {  # each component's direct upstream steps
    "StatisticsGen": {"ImageExampleGen", "ImportSchemaGen"},
    "ExampleValidator": {"StatisticsGen", "ImportSchemaGen"},
    "species_drift": {"StatisticsGen"},
    "ValidationGate": {"ExampleValidator", "ImageExampleGen", "species_drift"},
    "Transform": {"ImageExampleGen", "ImportSchemaGen", "ValidationGate"},
    "Trainer": {"Transform", "ImportSchemaGen"},
    "Evaluator": {"ImageExampleGen", "Trainer", "latest_blessed_model_resolver"},
    "Pusher": {"Trainer", "Evaluator"},
}
BEAM_COMPONENTS = ["ImageExampleGen", "StatisticsGen", "Transform", "Evaluator"]


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kubeflow")
    v2, v1 = tmp / "rarespecies.yaml", tmp / "rarespecies.tar.gz"
    common = ["--image", IMAGE, "--output-dir", OUTPUT_DIR, "--data-root", DATA_ROOT,
              *TRAINING, *DATAFLOW]
    assert cli.main(["compile", "--engine", "kubeflow-v2", "--output", str(v2),
                     "--trainer-gpus", "2", "--trainer-gpu-type", "NVIDIA_TESLA_T4",
                     *common]) == 0
    assert cli.main(["compile", "--engine", "kubeflow", "--output", str(v1),
                     "--trainer-gpus", "1", "--trainer-gpu-type", "nvidia-tesla-t4",
                     *common]) == 0
    return v2, v1


def kfp_load(path):
    """The package as kfp 1.8.22's Client.create_run_from_pipeline_package reads it."""
    import kfp
    return kfp.Client._extract_pipeline_yaml(object.__new__(kfp.Client), str(path))


def component_of(task_name: str) -> str:
    """KFP task name -> our component id (the resolver is two tasks in the v2 IR; Argo
    templates are lower case with dashes)."""
    for component in COMPONENTS:
        if task_name in (component, component.lower().replace("_", "-")) or \
                task_name.startswith(component + "-"):
            return component
    raise AssertionError(f"unexpected task {task_name}")


def check_dag(upstream_of):
    """upstream_of: component -> set of upstream components, over all tasks of the package."""
    assert set(upstream_of) == set(COMPONENTS)
    for component, upstream in upstream_of.items():
        assert UPSTREAM.get(component, set()) <= upstream, component
        for before in upstream - {component}:
            assert COMPONENTS.index(before) < COMPONENTS.index(component), (before, component)


# --- v2: the KFP IR -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def v2_spec(packages):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    loaded = kfp_load(packages[0])
    assert loaded == yaml.safe_load(packages[0].read_text())
    return json_format.ParseDict(loaded, pipeline_spec_pb2.PipelineSpec())


def v2_executors(spec):
    from google.protobuf import json_format
    return json_format.MessageToDict(spec.deployment_spec)["executors"]


def v2_constant(task, name):
    return task.inputs.parameters[name].runtime_value.constant.string_value


def test_v2_every_component_in_dependency_order(v2_spec):
    upstream_of = {}
    for name, task in v2_spec.root.dag.tasks.items():
        upstream = {component_of(t) for t in task.dependent_tasks}
        upstream |= {component_of(a.task_output_artifact.producer_task)
                     for a in task.inputs.artifacts.values()}
        upstream_of.setdefault(component_of(name), set()).update(upstream)
    check_dag(upstream_of)


def test_v2_image_on_every_executor_and_pipeline_root(v2_spec):
    executors = v2_executors(v2_spec)
    containers = {name: e["container"] for name, e in executors.items() if "container" in e}
    assert len(containers) == len(COMPONENTS) - 1  # the resolver runs no container
    assert {c["image"] for c in containers.values()} == {IMAGE}
    assert all("resolver" in e for name, e in executors.items() if name not in containers)
    assert v2_spec.default_pipeline_root == PIPELINE_ROOT
    assert v2_spec.schema_version == "2.1.0"


def test_v2_parameters_reach_the_components(v2_spec):
    tasks = v2_spec.root.dag.tasks
    trainer = json.loads(v2_constant(tasks["Trainer"], "custom_config"))
    assert (trainer["epochs"], trainer["loss"], trainer["beta"], trainer["image_size"],
            trainer["batch_size"]) == (7, "class_balanced_focal", 0.99, 96, 16)
    assert json.loads(v2_constant(tasks["Transform"], "custom_config")) == {"image_size": 96}
    assert "0.2" in v2_constant(tasks["Evaluator"], "eval_config")  # --min-accuracy
    assert v2_constant(tasks["ImportSchemaGen"], "schema_file") == "/app/schema/schema.pbtxt"
    push = json.loads(v2_constant(tasks["Pusher"], "push_destination"))
    assert push["filesystem"]["base_directory"] == f"{OUTPUT_DIR}/serving_model/rarespecies"
    # The data root is a runtime parameter, with its default in the spec itself.
    assert tasks["ImageExampleGen"].inputs.parameters["input_base"] \
        .component_input_parameter == kubeflow_runner.DATA_ROOT_PARAMETER
    data_root = v2_spec.root.input_definitions.parameters[kubeflow_runner.DATA_ROOT_PARAMETER]
    assert data_root.default_value.string_value == DATA_ROOT
    # No fingerprint of data this machine cannot see; so no caching unless --cache.
    assert v2_constant(tasks["ImageExampleGen"], "input_fingerprint") == ""
    assert not any(task.caching_options.enable_cache for task in tasks.values())


def test_v2_beam_args_and_trainer_gpus(v2_spec):
    executors = v2_executors(v2_spec)
    for component in BEAM_COMPONENTS:
        args = executors[f"{component}_executor"]["container"]["args"]
        assert all(arg in args for arg in BEAM_EXPECTED), (component, args)
        assert not [arg for arg in args if arg.startswith("--direct_")]
    accelerator = executors["Trainer_executor"]["container"]["resources"]["accelerator"]
    assert accelerator == {"type": "NVIDIA_TESLA_T4", "count": "2"}
    assert "resources" not in executors["Transform_executor"]["container"]


def test_v2_trainer_on_several_machines_is_a_vertex_custom_job(tmp_path, capsys):
    """--trainer-workers 3: TFX's Vertex AI Trainer starts a custom job of a chief and two
    workers in the image, each with the GPUs asked for; the step itself asks for none, and
    run_fn reads its settings past the extension's keys."""
    from trainer.hparams import TrainerConfig
    output = tmp_path / "multi.yaml"
    assert cli.main(["compile", "--engine", "kubeflow-v2", "--output", str(output),
                     "--image", IMAGE, "--output-dir", OUTPUT_DIR, "--data-root", DATA_ROOT,
                     "--trainer-workers", "3", "--vertex-project", "test-project",
                     "--vertex-region", "europe-west4", "--trainer-gpus", "1",
                     "--trainer-gpu-type", "NVIDIA_L4", "--epochs", "7"]) == 0
    assert "3 x n1-standard-8 with 1 x NVIDIA_L4" in capsys.readouterr().out
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    spec = json_format.ParseDict(kfp_load(output), pipeline_spec_pb2.PipelineSpec())
    trainer = v2_executors(spec)["Trainer_executor"]["container"]
    assert "google_cloud_ai_platform.trainer.executor" in " ".join(trainer["args"])
    assert "resources" not in trainer
    custom = json.loads(v2_constant(spec.root.dag.tasks["Trainer"], "custom_config"))
    assert custom["ai_platform_enable_vertex"] is True
    assert custom["ai_platform_vertex_region"] == "europe-west4"
    job = custom["ai_platform_training_args"]
    assert job["project"] == "test-project"
    pools = job["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 2]
    for pool in pools:
        assert pool["container_spec"] == {"image_uri": IMAGE}
        assert pool["machine_spec"] == {"machine_type": "n1-standard-8",
                                        "accelerator_type": "NVIDIA_L4",
                                        "accelerator_count": 1}
    assert TrainerConfig.from_custom_config(custom).epochs == 7


@pytest.mark.parametrize("flags, message", [
    (["--trainer-workers", "2"], "needs --vertex-project and --vertex-region"),
    (["--trainer-workers", "2", "--vertex-project", "p", "--vertex-region", "r",
      "--trainer-gpus", "2"], "needs --trainer-gpu-type"),
    (["--trainer-workers", "0"], "must be 1 or more"),
    (["--trainer-workers", "2", "--vertex-project", "p", "--vertex-region", "r",
      "--output-dir", "/mnt/out"], "must be a bucket"),
])
def test_trainer_workers_options_are_checked(tmp_path, capsys, flags, message):
    output = tmp_path / "p.yaml"
    assert cli.main(["compile", "--engine", "kubeflow-v2", "--output", str(output),
                     "--output-dir", "gs://b/out", "--data-root", "gs://b/d", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


# --- v1: the Argo workflow ------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow(packages):
    with tarfile.open(packages[1]) as tar:
        assert tar.getnames() == ["pipeline.yaml"]
    loaded = kfp_load(packages[1])
    assert loaded["kind"] == "Workflow"
    return loaded


def step_templates(workflow):
    return {component_of(t["name"]): t for t in workflow["spec"]["templates"] if "container" in t}


def tfx_ir(template):
    """The TFX IR a v1 step runs (--tfx_ir), as TFX's proto, and its deployment config."""
    from google.protobuf import json_format
    from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2  # noqa: F401
    args = template["container"]["args"]
    ir = json_format.Parse(args[args.index("--tfx_ir") + 1], pipeline_pb2.Pipeline())
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    return ir, deployment


def test_v1_a_template_per_component_in_dependency_order(workflow):
    templates = step_templates(workflow)
    assert set(templates) == set(COMPONENTS)
    dag = next(t["dag"] for t in workflow["spec"]["templates"] if "dag" in t)
    upstream_of = {component_of(task["name"]): {component_of(d)
                                                for d in task.get("dependencies", [])}
                   for task in dag["tasks"]}
    check_dag(upstream_of)
    # The TFX IR in each step agrees.
    ir, _ = tfx_ir(templates["Transform"])
    assert set(ir.nodes[0].pipeline_node.upstream_nodes) == UPSTREAM["Transform"]


def test_v1_image_parameters_and_pipeline_root(workflow):
    templates = step_templates(workflow)
    assert {t["container"]["image"] for t in templates.values()} == {IMAGE}
    arguments = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert arguments == {"pipeline-root": PIPELINE_ROOT,
                         kubeflow_runner.DATA_ROOT_PARAMETER: DATA_ROOT}
    ir, _ = tfx_ir(templates["Trainer"])
    parameters = ir.nodes[0].pipeline_node.parameters.parameters
    trainer = json.loads(parameters["custom_config"].field_value.string_value)
    assert (trainer["epochs"], trainer["loss"], trainer["image_size"]) == (
        7, "class_balanced_focal", 96)
    ir, _ = tfx_ir(templates["ImageExampleGen"])
    input_base = ir.nodes[0].pipeline_node.parameters.parameters["input_base"]
    assert input_base.runtime_parameter.name == kubeflow_runner.DATA_ROOT_PARAMETER
    assert not ir.nodes[0].pipeline_node.execution_options.caching_options.enable_cache
    for template in templates.values():  # KFP's own pod cache stays off
        assert template["metadata"]["annotations"][
            "pipelines.kubeflow.org/max_cache_staleness"] == "P0D"


def test_v1_beam_args_and_trainer_gpus(workflow):
    from tfx.proto.orchestration import executable_spec_pb2
    templates = step_templates(workflow)
    for component in BEAM_COMPONENTS:
        _, deployment = tfx_ir(templates[component])
        spec = executable_spec_pb2.BeamExecutableSpec()
        assert deployment.executor_specs[component].Unpack(spec), component
        assert list(spec.beam_pipeline_args) == BEAM_EXPECTED
    trainer = templates["Trainer"]
    assert trainer["container"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert trainer["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    assert "resources" not in templates["Transform"]["container"]


# --- compile's checks (before any TFX import) -----------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--data-root", "out/data/demo"], "--data-root 'out/data/demo'"),
    (["--data-root", "gs://b/d", "--beam-runner", "DataflowRunner",
      "--beam-arg=--project=p"], "DataflowRunner needs --region, --temp_location"),
    (["--data-root", "gs://b/d", "--beam-runner", "FlinkRunner"], "--flink_master"),
    ([], "--data-root is required"),
])
def test_compile_rejects_what_cannot_run(tmp_path, capsys, flags, message):
    output = tmp_path / "p.yaml"
    assert cli.main(["compile", "--engine", "kubeflow-v2", "--output", str(output),
                     "--output-dir", "gs://b/out", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


# --- submit ---------------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ARGO_PACKAGE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: rarespecies-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: data_root, value: gs://b/d}]}
  templates: [{name: main, container: {image: busybox}}]
"""


@pytest.mark.parametrize("precheck", [True, False], ids=["socket-check", "kfp-client"])
def test_submit_to_unreachable_host_fails_in_one_line(tmp_path, capsys, monkeypatch, precheck):
    package = tmp_path / "pipeline.yaml"
    package.write_text(ARGO_PACKAGE)
    if not precheck:  # the Kubeflow client's own connection error, handled the same way
        monkeypatch.setattr(kfp_client, "check_reachable", lambda host, timeout: None)
    host = f"http://127.0.0.1:{closed_port()}"
    assert cli.main(["submit", "--host", host, "--package", str(package), "--experiment", "e",
                     "--run-name", "r", "--param", "data_root=gs://b/other"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: cannot submit to Kubeflow Pipelines at {host}: ")
    assert re.search(r"[Cc]onnection refused", err)


def test_submit_checks_the_package_first(tmp_path, capsys):
    package = tmp_path / "pipeline.yaml"
    package.write_text(ARGO_PACKAGE)
    assert cli.main(["submit", "--host", "http://127.0.0.1:1", "--package",
                     str(tmp_path / "missing.yaml")]) == 2
    assert "no package at" in capsys.readouterr().err
    assert cli.main(["submit", "--host", "http://127.0.0.1:1", "--package", str(package),
                     "--param", "epochs=3"]) == 2
    assert "unknown --param epochs; this package takes data_root" in capsys.readouterr().err


@pytest.fixture
def fake_kfp_api():
    """The few v1beta1 endpoints kfp 1.8.22's Client calls, on 127.0.0.1; records the runs."""
    runs = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # healthz; the experiment, looked up by name
            self.reply({"multi_user": False, "total_size": 1,
                        "experiments": [{"id": "exp-1", "name": "rarespecies"}]})

        def do_POST(self):  # the run
            runs.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.reply({"run": {"id": "run-1", "name": runs[-1]["name"]}})

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", runs
    server.shutdown()


def test_submit_sends_the_package_and_its_parameters(packages, fake_kfp_api, capsys):
    host, runs = fake_kfp_api
    for package, data_root in zip(packages, ("gs://test-bucket/data/v2", "/mnt/data/v2")):
        assert cli.main(["submit", "--host", host, "--package", str(package), "--experiment",
                         "rarespecies", "--run-name", "focal",
                         "--param", f"data_root={data_root}"]) == 0
        assert f"{host}/#/runs/details/run-1" in capsys.readouterr().out
        run = runs[-1]
        assert run["name"] == "focal"
        manifest = json.loads(run["pipeline_spec"]["workflow_manifest"])
        if package.suffix == ".yaml":  # v2: the value travels as the spec's default
            parameter = manifest["root"]["inputDefinitions"]["parameters"]["data_root"]
            assert parameter["defaultValue"] == data_root
            assert manifest["defaultPipelineRoot"] == PIPELINE_ROOT
        else:  # Argo: as a run parameter
            assert manifest["kind"] == "Workflow"
            assert run["pipeline_spec"]["parameters"] == [{"name": "data_root",
                                                           "value": data_root}]


def test_dockerfile_puts_the_project_where_compile_points():
    dockerfile = (Path(__file__).resolve().parents[2] / "deploy" / "Dockerfile").read_text()
    assert f"WORKDIR {kubeflow_runner.IMAGE_APP_DIR}\n" in dockerfile
    assert "uv pip install --system --no-deps -e ." in dockerfile
    assert "requirements.lock" in dockerfile
