"""Beam arguments for the Beam-powered components (ImageExampleGen, StatisticsGen, Transform,
Evaluator, ...) on another runner than the local DirectRunner.

`pipeline_args(runner, beam_args, setup_file)` puts `--runner=<runner>` first, drops the
DirectRunner-only defaults, makes sure a setup file ships this project to the workers, and
checks that what the runner cannot start without is there (a project, region and temp location
for Dataflow; a job endpoint or master for Flink and Spark), so a missing flag fails at compile
time on this machine rather than minutes into a run on the cluster.
"""
from typing import Dict, List, Sequence, Tuple

RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")

# runner -> groups of flags; each group needs one of its flags.
REQUIRED: Dict[str, List[Tuple[str, ...]]] = {
    "DataflowRunner": [("--project",), ("--region",), ("--temp_location",)],
    "FlinkRunner": [("--flink_master", "--job_endpoint")],
    "SparkRunner": [("--spark_master_url", "--spark_rest_url", "--job_endpoint")],
}
EXAMPLES = {
    "DataflowRunner": "--beam-arg=--project=MY_PROJECT --beam-arg=--region=us-central1 "
                      "--beam-arg=--temp_location=gs://MY_BUCKET/tmp",
    "FlinkRunner": "--beam-arg=--flink_master=flink-jobmanager:8081 (or --job_endpoint=HOST:8099 "
                   "of a Beam Flink job server)",
    "SparkRunner": "--beam-arg=--job_endpoint=HOST:8099 (a Beam Spark job server) or "
                   "--beam-arg=--spark_master_url=spark://HOST:7077",
}


def flag_names(args: Sequence[str]) -> List[str]:
    """'--project=p' and '--project p' both name '--project'."""
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]


def flag_value(args: Sequence[str], name: str):
    """The value of the last `name` flag in args (either spelling), or None."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        elif arg == name and i + 1 < len(args):
            value = args[i + 1]
    return value


def without_flags(args: Sequence[str], drop) -> List[str]:
    """args less the flags whose name `drop(name)` is true (and their separate values)."""
    kept, skip_value = [], False
    for arg in args:
        if skip_value and not arg.startswith("--"):
            skip_value = False
            continue
        skip_value = False
        if arg.startswith("--") and drop(arg.split("=", 1)[0]):
            skip_value = "=" not in arg
            continue
        kept.append(arg)
    return kept


def pipeline_args(runner: str, beam_args: Sequence[str], setup_file: str) -> List[str]:
    """The Beam args the components get. DirectRunner: beam_args (a --runner among them still
    wins, as before). Other runners: --runner first, then beam_args less the --direct_*
    defaults. Either way with --setup_file=setup_file when beam_args have none: it ships the
    project to remote workers, and without it TFX builds a TFX sdist in every Beam step."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown Beam runner {runner!r}; choose one of {', '.join(RUNNERS)}")
    if runner == "DirectRunner":
        args = list(beam_args)
    else:
        given = flag_value(beam_args, "--runner")
        if given is not None and given != runner:
            raise ValueError(f"--beam-runner {runner} conflicts with --beam-arg=--runner={given}")
        args = [f"--runner={runner}"] + without_flags(
            beam_args, lambda name: name.startswith("--direct_") or name == "--runner")
    if "--setup_file" not in flag_names(args):
        args.append(f"--setup_file={setup_file}")
    names = set(flag_names(args))
    missing = [" or ".join(group) for group in REQUIRED.get(runner, [])
               if not names.intersection(group)]
    if missing:
        raise ValueError(f"{runner} needs {', '.join(missing)} (as --beam-arg), e.g. "
                         f"{EXAMPLES[runner]}")
    return args
