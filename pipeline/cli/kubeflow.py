"""`rarespecies compile` (the pipeline as a Kubeflow Pipelines package, pipeline/
kubeflow_runner.py) and `rarespecies submit` (a package to a Kubeflow Pipelines host,
pipeline/kfp_client.py)."""
import datetime
import logging
import os

from pipeline.cli import console, flags
from pipeline.configs import PipelineConfig
from pipeline.kfp_client import CLIENT_SUFFIXES
from pipeline.kubeflow_runner import ENGINES
from pipeline.vertex_training import DEFAULT_MACHINE_TYPE

PLACEHOLDER_IMAGE = PipelineConfig().image


def compile_command(args) -> int:
    from pipeline import kubeflow_runner as runner
    try:
        runner.check_options(args.engine, args.output, args.trainer_gpus, args.trainer_gpu_type,
                             tuple(args.volumes or ()), args.trainer_workers,
                             args.vertex_project, args.vertex_region)
        config = runner.pod_config(flags.config_from_args(args, absolute_paths=False),
                                  flags.given_fields(args))
    except runner.CompileError as err:
        console.error(str(err))
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        runner.compile_package(config, args.engine, args.output, args.trainer_gpus,
                               args.trainer_gpu_type, tuple(args.volumes or ()),
                               args.trainer_workers, args.vertex_project, args.vertex_region,
                               args.trainer_machine_type)
    except runner.CompileError as err:
        console.error(str(err))
        return 2
    print(f"Wrote {args.engine} package {args.output}\n"
          f"  image          {config.image}\n"
          f"  pipeline root  {config.pipeline_root}\n"
          f"  data root      {config.data_root} (runtime parameter "
          f"{runner.DATA_ROOT_PARAMETER})\n"
          f"  pushed models  {config.serving_model_dir}\n"
          f"  Beam args      {' '.join(config.beam_args)}\n"
          f"  caching        {'on' if config.enable_cache else 'off'}")
    if args.trainer_workers > 1:
        print(f"  Trainer        a Vertex AI custom job in {args.vertex_region} of "
              f"{args.trainer_workers} x {args.trainer_machine_type}"
              + (f" with {args.trainer_gpus} x {args.trainer_gpu_type}" if args.trainer_gpus
                 else "") + " (MultiWorkerMirroredStrategy)")
    if config.image == PLACEHOLDER_IMAGE:
        console.warning(f"{config.image} is a placeholder; pass --image with the image you "
                        f"pushed (deploy/kubeflow/README.md)")
    if args.engine == "kubeflow-v2":
        print("note: the package has resolver tasks (latest_blessed_model_resolver); Vertex AI "
              "Pipelines runs them, open-source Kubeflow Pipelines does not: use --engine "
              "kubeflow there")
    if args.output.endswith(CLIENT_SUFFIXES):
        print(f"Submit: rarespecies submit --host URL --package {args.output}")
    else:
        print("Submit to Vertex AI Pipelines with google-cloud-aiplatform (PipelineJob "
              "template_path); deploy/kubeflow/README.md")
    return 0


def submit_command(args) -> int:
    from pipeline import kfp_client
    run_name = args.run_name or (
        f"{os.path.basename(args.package)} {datetime.datetime.now():%Y-%m-%d %H-%M-%S}")
    try:
        submitted = kfp_client.submit(
            args.host, args.package, kfp_client.parse_params(args.params), run_name,
            experiment=args.experiment, namespace=args.namespace, timeout=args.timeout,
            verbose=args.verbose)
    except kfp_client.PackageError as err:
        console.error(str(err))
        return 2
    except kfp_client.SubmitError as err:
        console.error(str(err))
        return 1
    print(f"Submitted run {submitted.name!r} (id {submitted.run_id}): {submitted.url}")
    return 0


def add_parser(subparsers) -> None:
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
    add("--cache", dest="enable_cache", action="store_const", const=True,
        help="reuse earlier outputs when a step's inputs are unchanged (default off on "
             "Kubeflow: the data are not fingerprinted, so new images under the same "
             "--data-root would be missed; use with a new data root per data version)")
    add("--trainer-gpus", type=int, default=0, metavar="N",
        help="GPUs for the Trainer step, or for each of its machines with --trainer-workers "
             "(several: MirroredStrategy)")
    add("--trainer-workers", type=int, default=1, metavar="N",
        help="machines the Trainer trains on: more than 1 runs it as a Vertex AI custom job "
             "(a chief and N-1 workers in --image, TF_CONFIG set by Vertex AI, "
             "MultiWorkerMirroredStrategy); needs --vertex-project and --vertex-region")
    add("--vertex-project", default="", metavar="PROJECT",
        help="Google Cloud project of the Trainer's custom job (--trainer-workers)")
    add("--vertex-region", default="", metavar="REGION",
        help="its region, e.g. europe-west4 (--trainer-workers)")
    add("--trainer-machine-type", default=DEFAULT_MACHINE_TYPE, metavar="TYPE",
        help="Vertex AI machine type of each Trainer machine (--trainer-workers; default "
             "%(default)s)")
    add("--trainer-gpu-type", metavar="TYPE",
        help="kubeflow-v2: accelerator type (Vertex AI: NVIDIA_TESLA_T4, NVIDIA_L4, ...; "
             "KFP 2.x: nvidia.com/gpu); kubeflow: GKE node label value (nvidia-tesla-t4)")
    add("--volume", dest="volumes", action="append", metavar="CLAIM:/PATH",
        help="--engine kubeflow: mount this PersistentVolumeClaim in every step, repeatable")
    flags.add_config_flags(compile_, groups=(flags.MAIN_GROUP, "kubeflow"))
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
        help="pipeline parameter, repeatable (e.g. data_root=gs://BUCKET/data/v2)")
    add("--namespace", help="Kubernetes namespace (multi-user Kubeflow)")
    add("--timeout", type=float, default=10.0, help="seconds to wait for the host to answer")
    add("-v", "--verbose", action="store_true", help="show the Kubeflow client's log")
    submit.set_defaults(func=submit_command)
