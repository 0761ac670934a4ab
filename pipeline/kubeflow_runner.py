"""The Kubeflow runner: the one pipeline of pipeline.create_pipeline, with the flags of `run`,
compiled by TFX's Kubeflow runners into a package that Kubeflow Pipelines or Vertex AI runs:
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
import dataclasses
import json
import os
from typing import Iterable, Optional, Tuple

from pipeline import beam, vertex_training
from pipeline.configs import PipelineConfig
from schema.paths import is_remote

ENGINES = ("kubeflow-v2", "kubeflow")
SUFFIXES = {"kubeflow-v2": (".yaml", ".yml", ".json"),
            "kubeflow": (".tar.gz", ".tgz", ".zip", ".yaml", ".yml")}

# Where deploy/Dockerfile puts the project (installed in editable mode, so REPO_ROOT there).
IMAGE_APP_DIR = "/app"
IMAGE_SCHEMA_PATH = f"{IMAGE_APP_DIR}/schema/schema.pbtxt"
IMAGE_SETUP_FILE = f"{IMAGE_APP_DIR}/setup.py"
# In a pod, a few Beam worker processes: not one per core of the node, which a pod without CPU
# limits sees, each importing TensorFlow.
KUBEFLOW_DIRECT_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=4"]

DATA_ROOT_PARAMETER = "data_root"  # runtime parameter: set it per run, no recompiling


class CompileError(ValueError):
    """Options that cannot make a runnable package (a user error: exit status 2)."""


def check_options(engine: str, output: str, trainer_gpus: int = 0,
                  gpu_type: Optional[str] = None, volumes: Tuple[str, ...] = (),
                  trainer_workers: int = 1, vertex_project: str = "",
                  vertex_region: str = "") -> None:
    """CompileError naming the first option that the engine cannot honour."""
    if trainer_workers < 1:
        raise CompileError(f"--trainer-workers must be 1 or more, not {trainer_workers}")
    if trainer_workers > 1 and not (vertex_project and vertex_region):
        raise CompileError("--trainer-workers runs the Trainer as a Vertex AI custom job: it "
                           "needs --vertex-project and --vertex-region (deploy/kubeflow/"
                           "README.md, \"Training on several machines\")")
    if trainer_workers > 1 and trainer_gpus and not gpu_type:
        raise CompileError("--trainer-gpus with --trainer-workers needs --trainer-gpu-type "
                           "(Vertex AI's name: NVIDIA_TESLA_T4, NVIDIA_L4, ...)")
    if not output.endswith(SUFFIXES[engine]):
        raise CompileError(f"--output for --engine {engine} must end with one of "
                           f"{', '.join(SUFFIXES[engine])}")
    if trainer_gpus and engine == "kubeflow-v2" and not gpu_type:
        raise CompileError("--trainer-gpus with --engine kubeflow-v2 needs --trainer-gpu-type "
                           "(Vertex AI: e.g. NVIDIA_TESLA_T4, NVIDIA_L4; KFP 2.x: "
                           "nvidia.com/gpu)")
    for volume in volumes:
        if ":" not in volume or not volume.split(":", 1)[1].startswith("/"):
            raise CompileError(f"--volume {volume!r}: expected CLAIM:/mount/path")
    if volumes and engine != "kubeflow":
        raise CompileError("--volume needs --engine kubeflow (TFX's v2 runner cannot mount "
                           "volumes; use a bucket for --pipeline-root and --data-root)")


def compile_package(config: PipelineConfig, engine: str, output: str, trainer_gpus: int = 0,
                    gpu_type: Optional[str] = None, volumes: Tuple[str, ...] = (),
                    trainer_workers: int = 1, vertex_project: str = "", vertex_region: str = "",
                    machine_type: str = vertex_training.DEFAULT_MACHINE_TYPE) -> None:
    """Writes the package of `engine` for a pod config (pod_config) to `output`. With
    trainer_workers > 1 the Trainer step runs a Vertex AI custom job of that many machines,
    each with `trainer_gpus` GPUs (pipeline/vertex_training.py); the step itself needs none."""
    check_options(engine, output, trainer_gpus, gpu_type, volumes, trainer_workers,
                  vertex_project, vertex_region)
    trainer_job = None
    if trainer_workers > 1:
        if volumes or not config.pipeline_root.startswith("gs://"):
            raise CompileError("--trainer-workers: the Vertex AI job reads and writes the "
                               "pipeline root, which must be a bucket (--output-dir gs://...), "
                               "not a volume")
        trainer_job = vertex_training.trainer_job(trainer_workers, vertex_project,
                                                  vertex_region, config.image, machine_type,
                                                  trainer_gpus, gpu_type)
        trainer_gpus, gpu_type = 0, None
    if engine == "kubeflow-v2":
        compile_v2(config, output, trainer_gpus, gpu_type, trainer_job)
    else:
        compile_v1(config, output, trainer_gpus, gpu_type, tuple(volumes), trainer_job)


def _is_remote_or_absolute(path: str) -> bool:
    return is_remote(path) or path.startswith("/")


def pod_config(config: PipelineConfig, given: Iterable[str]) -> PipelineConfig:
    """`config` (built from `run`'s flags; `given` names the fields the user set) with paths as
    the pipeline's pods see them and Beam arguments for a pod; CompileError when a path is on
    this machine or missing."""
    given = set(given)
    for flag, field in (("--data-root", "data_root"), ("--pipeline-root", "pipeline_root_override"),
                        ("--output-dir", "output_dir"), ("--schema", "schema_path")):
        value = getattr(config, field)
        if field in given and not _is_remote_or_absolute(value):
            raise CompileError(f"{flag} {value!r}: give a bucket URL (gs://..., s3://...) or an "
                               f"absolute path on a volume that the pods mount, not a path on "
                               f"this machine")
    if "data_root" not in given:
        raise CompileError("--data-root is required: the training images as the pods see them, "
                           "e.g. gs://MY_BUCKET/rarespecies/data/demo or /mnt/data/demo")
    if not given & {"output_dir", "pipeline_root_override"}:
        raise CompileError("give --output-dir gs://MY_BUCKET (everything under it, as under out/ "
                           "locally) or --pipeline-root")
    # As locally: the pipeline root <output-dir>/pipelines/<name> and the pushed models
    # <output-dir>/serving_model/<model>; --pipeline-root alone puts both under it.
    output_dir = config.output_dir if "output_dir" in given else config.pipeline_root_override
    schema_path = config.schema_path if "schema_path" in given else IMAGE_SCHEMA_PATH
    # The local defaults, re-aimed at a pod; pipeline_args adds the image's setup file.
    beam_args = list(config.beam_args) if "beam_args" in given else KUBEFLOW_DIRECT_ARGS
    try:
        beam_args = beam.pipeline_args(config.beam_runner, beam_args, IMAGE_SETUP_FILE)
    except ValueError as err:
        raise CompileError(str(err)) from err
    return dataclasses.replace(config, output_dir=output_dir, schema_path=schema_path,
                               beam_args=beam_args)


def build_pipeline(config: PipelineConfig, trainer_job: Optional[dict] = None):
    """create_pipeline() with the data root as a runtime parameter and no input fingerprint
    (the data are not on this machine; see deploy/kubeflow/README.md, "Caching")."""
    from tfx import v1 as tfx
    from pipeline.pipeline import create_pipeline
    data_root = config.data_root
    config.data_root = tfx.dsl.experimental.RuntimeParameter(
        name=DATA_ROOT_PARAMETER, ptype=str, default=data_root)
    try:
        return create_pipeline(config, metadata_connection_config=None, input_fingerprint=None,
                               trainer_job=trainer_job)
    finally:
        config.data_root = data_root


def _trainer(pipeline):
    from pipeline.pipeline import TRAINER_ID
    return next(node for node in pipeline.components if node.id == TRAINER_ID)


def compile_v2(config: PipelineConfig, output: str, trainer_gpus: int = 0,
               gpu_type: Optional[str] = None, trainer_job: Optional[dict] = None) -> dict:
    """Writes the KFP IR; returns the PipelineSpec (as a dict) that was written."""
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx import v1 as tfx

    pipeline = build_pipeline(config, trainer_job)
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
               gpu_type: Optional[str] = None, volumes: Tuple[str, ...] = (),
               trainer_job: Optional[dict] = None) -> None:
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
    runner.run(build_pipeline(config, trainer_job))


def _no_kfp_step_cache(op):
    """TFX caches in ML Metadata (--cache); KFP 1.x's pod cache would skip a step without TFX
    recording its outputs for the run, so it stays off."""
    op.execution_options.caching_strategy.max_cache_staleness = "P0D"


def _trainer_gpus(count: int, gpu_type: Optional[str]):
    from pipeline.pipeline import TRAINER_ID

    def apply(op):
        if op.human_name == TRAINER_ID:
            op.container.set_gpu_limit(str(count))
            if gpu_type:  # GKE's node label, e.g. nvidia-tesla-t4
                op.add_node_selector_constraint("cloud.google.com/gke-accelerator", gpu_type)
    return apply
