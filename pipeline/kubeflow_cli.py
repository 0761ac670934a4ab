"""`rarespecies compile` (the pipeline as a Kubeflow Pipelines package) and `rarespecies submit`.

compile builds the one pipeline of pipeline/pipeline.py:create_pipeline with the training flags
of `run`, then hands it to TFX's Kubeflow runners:
  --engine kubeflow-v2  KubeflowV2DagRunner: the KFP IR, written as a YAML PipelineSpec (which
                        kfp 1.8.22's Client.create_run_from_pipeline_package sends and Vertex AI
                        Pipelines runs; open-source KFP 2.x refuses its resolver tasks) or, for a
                        .json output, the PipelineJob JSON that TFX writes by default.
  --engine kubeflow     KubeflowDagRunner: an Argo Workflow package (.tar.gz, .zip or .yaml) for
                        Kubeflow Pipelines 1.x, which KFP 2.x backends still run.
The steps run in the pipeline image (deploy/Dockerfile), which holds this project at /app; so
the paths that the compiled pipeline names (the curated schema, the setup file shipped to Beam
workers) are the image's, not this machine's. See deploy/kubeflow/README.md.
"""
import datetime
import io
import json
import logging
import os
import re
import socket
import sys
import tarfile
import tempfile
import urllib.parse
import zipfile
from typing import Dict, List, Optional, Tuple

from pipeline.configs import PipelineConfig
from pipeline.run_cli import add_config_arguments, config_from_args

ENGINES = ("kubeflow-v2", "kubeflow")
V2_SUFFIXES = (".yaml", ".yml", ".json")
V1_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".yaml", ".yml")
KFP_CLIENT_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".yaml", ".yml")  # kfp 1.8.22's Client

# Where deploy/Dockerfile puts the project (installed in editable mode, so REPO_ROOT there).
IMAGE_APP_DIR = "/app"
IMAGE_SCHEMA_PATH = f"{IMAGE_APP_DIR}/schema/schema.pbtxt"
IMAGE_SETUP_FILE = f"{IMAGE_APP_DIR}/setup.py"
# The local default spreads DirectRunner over every core it sees; in a pod without CPU limits
# that is every core of the node, each worker importing TensorFlow. A few workers instead.
KUBEFLOW_DIRECT_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=4"]

DATA_ROOT_PARAMETER = "data_root"  # runtime parameter: set it per run, no recompiling
TRAINER_ID = "Trainer"


class CompileError(ValueError):
    pass


def _is_remote_or_absolute(path: str) -> bool:
    return "://" in path or path.startswith("/")


def kubeflow_config(args) -> PipelineConfig:
    """The PipelineConfig of `run`'s flags, with paths as the pipeline's pods see them."""
    for flag, value in (("--data-root", args.data_root), ("--pipeline-root", args.pipeline_root),
                        ("--output-dir", args.output_dir), ("--schema", args.schema_path)):
        if value is not None and not _is_remote_or_absolute(value):
            raise CompileError(f"{flag} {value!r}: give a bucket URL (gs://..., s3://...) or an "
                               f"absolute path on a volume that the pods mount, not a path on "
                               f"this machine")
    if not args.data_root:
        raise CompileError("--data-root is required: the training images as the pods see them, "
                           "e.g. gs://MY_BUCKET/rarespecies/data/demo or /mnt/data/demo")
    if not (args.output_dir or args.pipeline_root):
        raise CompileError("give --output-dir gs://MY_BUCKET (everything under it, as under out/ "
                           "locally) or --pipeline-root")
    config = config_from_args(args)
    config.data_root = args.data_root
    # As locally: the pipeline root <output-dir>/pipelines/<name> and the pushed models
    # <output-dir>/serving_model/<model>; --pipeline-root alone puts both under it.
    config.output_dir = args.output_dir or args.pipeline_root
    config.pipeline_root_override = args.pipeline_root or ""
    if args.schema_path is None:
        config.schema_path = IMAGE_SCHEMA_PATH
    from pipeline import beam
    # The local defaults, re-aimed at a pod; pipeline_args adds the image's setup file.
    beam_args = KUBEFLOW_DIRECT_ARGS if args.beam_args is None else list(args.beam_args)
    try:
        config.beam_args = beam.pipeline_args(args.beam_runner, beam_args, IMAGE_SETUP_FILE)
    except ValueError as err:
        raise CompileError(str(err)) from err
    return config


def build_pipeline(config: PipelineConfig):
    """create_pipeline() with the data root as a runtime parameter and no input fingerprint
    (the data are not on this machine; see deploy/kubeflow/README.md, "Caching")."""
    from tfx import v1 as tfx
    from pipeline.pipeline import create_pipeline
    data_root = config.data_root
    config.data_root = tfx.dsl.experimental.RuntimeParameter(
        name=DATA_ROOT_PARAMETER, ptype=str, default=data_root)
    try:
        return create_pipeline(config, metadata_connection_config=None, input_fingerprint=None)
    finally:
        config.data_root = data_root


def _trainer(pipeline):
    return next(node for node in pipeline.components if node.id == TRAINER_ID)


def compile_v2(config: PipelineConfig, output: str, trainer_gpus: int = 0,
               gpu_type: Optional[str] = None) -> dict:
    """Writes the KFP IR; returns the PipelineSpec (as a dict) that was written."""
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx import v1 as tfx

    pipeline = build_pipeline(config)
    if trainer_gpus:
        resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
        _trainer(pipeline).with_platform_config(resources(
            accelerator=resources.AcceleratorConfig(type=gpu_type, count=trainer_gpus)))
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=config.image,
            # Schema 2.1 (parameterType, defaultValue): what kfp-pipeline-spec 0.1.16, KFP 2.x
            # and Vertex AI read. With 2.0, TFX 1.15's own YAML writer fails on runtime
            # parameters (KeyError 'parameterType').
            use_pipeline_spec_2_1=True))
    job = runner.run(pipeline, parameter_values={DATA_ROOT_PARAMETER: config.data_root},
                     write_out=False)
    spec = job["pipelineSpec"]
    # A YAML PipelineSpec has no runtimeConfig: put the parameter defaults and the pipeline root
    # into the spec itself, so the file alone is a complete, runnable pipeline.
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    for name, value in job["runtimeConfig"].get("parameterValues", {}).items():
        inputs[name]["defaultValue"] = value
    spec["defaultPipelineRoot"] = config.pipeline_root
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # fails on anything invalid

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as handle:
        if output.endswith(".json"):
            json.dump(job, handle, indent=2, sort_keys=True)
        else:
            handle.write(_v2_header(spec, config))
            yaml.safe_dump(spec, handle, sort_keys=True)
    return spec


def _v2_header(spec: dict, config: PipelineConfig) -> str:
    lines = ["# PIPELINE DEFINITION", f"# Name: {spec['pipelineInfo']['name']}",
             "# Description: rarespecies (pipeline/pipeline.py:create_pipeline), compiled by "
             f"`rarespecies compile --engine kubeflow-v2` with {spec.get('sdkVersion', 'tfx')}",
             f"# Image: {config.image}", f"# Pipeline root: {config.pipeline_root}", "# Inputs:"]
    for name, parameter in sorted(spec["root"]["inputDefinitions"]["parameters"].items()):
        lines.append(f"#  {name}: str [Default: {parameter.get('defaultValue')!r}]")
    return "\n".join(lines) + "\n"


def compile_v1(config: PipelineConfig, output: str, trainer_gpus: int = 0,
               gpu_type: Optional[str] = None, volumes: Tuple[str, ...] = ()) -> None:
    from kfp import onprem
    from tfx import v1 as tfx
    from tfx.orchestration.kubeflow import kubeflow_dag_runner

    operators = kubeflow_dag_runner.get_default_pipeline_operator_funcs()
    for i, volume in enumerate(volumes):
        claim, mount_path = volume.split(":", 1)
        operators.append(onprem.mount_pvc(claim, f"volume-{i}", mount_path))
    operators.append(_no_kfp_step_cache)
    if trainer_gpus:
        operators.append(_trainer_gpus(trainer_gpus, gpu_type))
    runner = tfx.orchestration.experimental.KubeflowDagRunner(
        config=tfx.orchestration.experimental.KubeflowDagRunnerConfig(
            kubeflow_metadata_config=kubeflow_dag_runner.get_default_kubeflow_metadata_config(),
            tfx_image=config.image, pipeline_operator_funcs=operators),
        output_dir=os.path.dirname(os.path.abspath(output)),
        output_filename=os.path.basename(output))
    runner.run(build_pipeline(config))


def _no_kfp_step_cache(op):
    """TFX caches in ML Metadata (--cache); KFP 1.x's pod cache would skip a step without TFX
    recording its outputs for the run, so it stays off."""
    op.execution_options.caching_strategy.max_cache_staleness = "P0D"


def _trainer_gpus(count: int, gpu_type: Optional[str]):
    def apply(op):
        if op.human_name == TRAINER_ID:
            op.container.set_gpu_limit(str(count))
            if gpu_type:  # GKE's node label, e.g. nvidia-tesla-t4
                op.add_node_selector_constraint("cloud.google.com/gke-accelerator", gpu_type)
    return apply


def compile_command(args) -> int:
    suffixes = V2_SUFFIXES if args.engine == "kubeflow-v2" else V1_SUFFIXES
    try:
        if not args.output.endswith(suffixes):
            raise CompileError(f"--output for --engine {args.engine} must end with one of "
                               f"{', '.join(suffixes)}")
        if args.trainer_gpus and args.engine == "kubeflow-v2" and not args.trainer_gpu_type:
            raise CompileError("--trainer-gpus with --engine kubeflow-v2 needs --trainer-gpu-type "
                               "(Vertex AI: e.g. NVIDIA_TESLA_T4, NVIDIA_L4; KFP 2.x: "
                               "nvidia.com/gpu)")
        for volume in args.volumes or ():
            if ":" not in volume or not volume.split(":", 1)[1].startswith("/"):
                raise CompileError(f"--volume {volume!r}: expected CLAIM:/mount/path")
        if args.volumes and args.engine != "kubeflow":
            raise CompileError("--volume needs --engine kubeflow (TFX's v2 runner cannot mount "
                               "volumes; use a bucket for --pipeline-root and --data-root)")
        config = kubeflow_config(args)
    except CompileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.engine == "kubeflow-v2":
        compile_v2(config, args.output, args.trainer_gpus, args.trainer_gpu_type)
    else:
        compile_v1(config, args.output, args.trainer_gpus, args.trainer_gpu_type,
                   tuple(args.volumes or ()))
    print(f"Wrote {args.engine} package {args.output}\n"
          f"  image          {config.image}\n"
          f"  pipeline root  {config.pipeline_root}\n"
          f"  data root      {config.data_root} (runtime parameter {DATA_ROOT_PARAMETER})\n"
          f"  pushed models  {config.serving_model_dir}\n"
          f"  Beam args      {' '.join(config.beam_args)}\n"
          f"  caching        {'on' if config.enable_cache else 'off'}")
    if config.image == PipelineConfig.image:
        print(f"warning: {config.image} is a placeholder; pass --image with the image you "
              f"pushed (deploy/kubeflow/README.md)", file=sys.stderr)
    if args.engine == "kubeflow-v2":
        print("note: the package has resolver tasks (latest_blessed_model_resolver); Vertex AI "
              "Pipelines runs them, open-source Kubeflow Pipelines does not: use --engine "
              "kubeflow there")
    if args.output.endswith(KFP_CLIENT_SUFFIXES):
        print(f"Submit: rarespecies submit --host URL --package {args.output}")
    else:
        print("Submit to Vertex AI Pipelines with google-cloud-aiplatform (PipelineJob "
              "template_path); deploy/kubeflow/README.md")
    return 0


# ---------------------------------------------------------------------------------------------
# submit

def load_package(path: str) -> dict:
    """The pipeline in a package, read as kfp 1.8.22's Client reads it."""
    if path.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "r:gz") as tar:
            names = [m.name for m in tar if m.isfile() and m.name.endswith(".yaml")]
            data = tar.extractfile(_package_member(names, path)).read()
    elif path.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".yaml")]
            data = archive.read(_package_member(names, path))
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    import yaml
    return yaml.safe_load(io.BytesIO(data))


def _package_member(names: List[str], path: str) -> str:
    if "pipeline.yaml" in names:
        return "pipeline.yaml"
    if len(names) != 1:
        raise ValueError(f"{path}: expected one pipeline .yaml inside, found {names}")
    return names[0]


def is_v2_spec(pipeline: dict) -> bool:
    return isinstance(pipeline, dict) and "pipelineInfo" in pipeline and "root" in pipeline


def package_parameters(pipeline: dict) -> Dict[str, object]:
    """Pipeline parameters and their defaults, for both package kinds."""
    if is_v2_spec(pipeline):
        parameters = pipeline["root"].get("inputDefinitions", {}).get("parameters", {})
        return {name: p.get("defaultValue") for name, p in parameters.items()}
    arguments = pipeline.get("spec", {}).get("arguments", {}).get("parameters", [])
    return {p["name"]: p.get("value") for p in arguments}


def parse_params(items: Optional[List[str]]) -> Dict[str, str]:
    params = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    return params


def check_reachable(host: str, timeout: float) -> None:
    """Raises OSError when nothing answers at host's address (fast, with a timeout: the
    Kubeflow client itself would wait without limit on an address that drops packets)."""
    url = urllib.parse.urlsplit(host)
    port = url.port or (443 if url.scheme == "https" else 80)
    socket.create_connection((url.hostname, port), timeout=timeout).close()


def _one_line(err: BaseException) -> str:
    """`Type: first line`, for the error a connection attempt ends in (urllib3 wraps it)."""
    reason = getattr(err, "reason", None)
    if isinstance(reason, BaseException):
        err = reason
    lines = re.sub(r"<[^>]*>:\s*", "", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def submit_command(args) -> int:
    host = (args.host if "://" in args.host else f"http://{args.host}").rstrip("/")
    package = args.package
    run_name = args.run_name or (
        f"{os.path.basename(package)} {datetime.datetime.now():%Y-%m-%d %H-%M-%S}")
    try:
        if not os.path.isfile(package):
            raise ValueError(f"no package at {package} (make one with `rarespecies compile`)")
        if not package.endswith(KFP_CLIENT_SUFFIXES):
            raise ValueError(f"{package}: Kubeflow Pipelines takes {', '.join(KFP_CLIENT_SUFFIXES)}"
                             f" packages (compile to .yaml; a .json PipelineJob is for Vertex AI)")
        pipeline = load_package(package)
        params = parse_params(args.params)
        known = package_parameters(pipeline)
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown --param {', '.join(unknown)}; this package takes "
                             f"{', '.join(sorted(known)) or 'none'}")
    except (ValueError, OSError, tarfile.TarError, zipfile.BadZipFile) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    arguments = params
    tmp = None
    if is_v2_spec(pipeline) and params:
        # kfp 1.8's Client sends parameters the v1 way, which a KFP 2.x backend ignores for a v2
        # pipeline: put them into the spec as its defaults instead.
        for name, value in params.items():
            pipeline["root"]["inputDefinitions"]["parameters"][name]["defaultValue"] = value
        import yaml
        tmp = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        with tmp:
            yaml.safe_dump(pipeline, tmp, sort_keys=True)
        package, arguments = tmp.name, {}
    quiet = logging.NullHandler()
    if not args.verbose:  # kfp logs tracebacks on retries; our error line says it all
        logging.getLogger().addHandler(quiet)
    try:
        check_reachable(host, args.timeout)
        import kfp
        namespace = {"namespace": args.namespace} if args.namespace else {}
        client = kfp.Client(host=host, **namespace)
        result = client.create_run_from_pipeline_package(
            package, arguments=arguments, run_name=run_name, experiment_name=args.experiment,
            **namespace)
    except Exception as err:  # unreachable host, refused auth, rejected package: one line
        print(f"error: cannot submit to Kubeflow Pipelines at {host}: {_one_line(err)}",
              file=sys.stderr)
        return 1
    finally:
        logging.getLogger().removeHandler(quiet)
        if tmp is not None:
            os.unlink(tmp.name)
    print(f"Submitted run {result.run_info.name!r} (id {result.run_id}): "
          f"{host}/#/runs/details/{result.run_id}")
    return 0


def add_parser(subparsers) -> None:
    from pipeline.beam import RUNNERS
    compile_ = subparsers.add_parser(
        "compile", help="compile the pipeline into a Kubeflow Pipelines package",
        description="Compile the pipeline (with the training flags of `run`) into a Kubeflow "
                    "Pipelines package. Paths are as the pipeline's pods see them: buckets "
                    "(gs://...) or absolute paths on mounted volumes. Steps: "
                    "deploy/kubeflow/README.md.")
    add = compile_.add_argument
    add("--engine", required=True, choices=ENGINES,
        help="kubeflow-v2: KFP IR (YAML PipelineSpec; .json: PipelineJob) for Vertex AI "
             "Pipelines (open-source KFP 2.x does not run its resolver tasks); kubeflow: Argo "
             "workflow (.tar.gz/.zip/.yaml) for Kubeflow Pipelines 1.x and 2.x")
    add("--output", required=True, metavar="FILE", help="package to write")
    add("--image", help=f"the pipeline image every step runs in (default {PipelineConfig.image})")
    add("--pipeline-root", dest="pipeline_root",
        help="where the steps write their outputs (default <output-dir>/pipelines/<name>): "
             "gs://BUCKET/... or a volume path")
    add("--beam-runner", default="DirectRunner", choices=RUNNERS,
        help="Beam runner of the Beam-powered steps (default DirectRunner, in each step's pod); "
             "Dataflow needs --beam-arg=--project=..., --region=..., --temp_location=gs://...; "
             "Flink and Spark a job endpoint")
    add("--cache", dest="enable_cache", action="store_const", const=True,
        help="reuse earlier outputs when a step's inputs are unchanged (default off on "
             "Kubeflow: the data are not fingerprinted, so new images under the same "
             "--data-root would be missed; use with a new data root per data version)")
    add("--trainer-gpus", type=int, default=0, metavar="N",
        help="GPUs for the Trainer step (several: MirroredStrategy)")
    add("--trainer-gpu-type", metavar="TYPE",
        help="kubeflow-v2: accelerator type (Vertex AI: NVIDIA_TESLA_T4, NVIDIA_L4, ...; "
             "KFP 2.x: nvidia.com/gpu); kubeflow: GKE node label value (nvidia-tesla-t4)")
    add("--volume", dest="volumes", action="append", metavar="CLAIM:/PATH",
        help="--engine kubeflow: mount this PersistentVolumeClaim in every step, repeatable")
    add_config_arguments(compile_)
    add("-v", "--verbose", action="store_true", help="log the runners' progress")
    compile_.set_defaults(func=compile_command, enable_cache=False)

    submit = subparsers.add_parser(
        "submit", help="submit a compiled package to Kubeflow Pipelines",
        description="Start a run of a compiled package (rarespecies compile) on Kubeflow "
                    "Pipelines, with kfp.Client().create_run_from_pipeline_package.")
    add = submit.add_argument
    add("--host", required=True, metavar="URL",
        help="Kubeflow Pipelines API, e.g. http://localhost:8080 after "
             "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`")
    add("--package", required=True, metavar="FILE", help="compiled package (.yaml, .tar.gz, ...)")
    add("--experiment", help="experiment to file the run under (created if missing; "
                             "default: KFP's 'Default')")
    add("--run-name", help="default: package name and time")
    add("--param", dest="params", action="append", metavar="NAME=VALUE",
        help=f"pipeline parameter, repeatable (e.g. {DATA_ROOT_PARAMETER}=gs://BUCKET/data/v2)")
    add("--namespace", help="Kubernetes namespace (multi-user Kubeflow)")
    add("--timeout", type=float, default=10.0, help="seconds to wait for the host to answer")
    add("-v", "--verbose", action="store_true", help="show the Kubeflow client's log")
    submit.set_defaults(func=submit_command)
