"""The `rarespecies` command line: it parses flags and prints; the work is done by the pipeline,
its runners, the reports and the server. Each subcommand lives in a module of this package that
provides `add_parser(subparsers)`; heavy imports (TensorFlow, TFX) happen inside the handlers so
that `rarespecies --help` answers at once. Flags of pipeline settings are generated from the
config (flags.py)."""
import argparse
import importlib
import os

# Quiet defaults, inherited by Beam's worker processes; set either variable to override.
# TF's C++ INFO lines and google-api-core's Python-version FutureWarnings fill thousands of
# lines per run and hide the summary.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")

# Modules providing add_parser(subparsers), in the order of the help text.
SUBCOMMAND_MODULES = (
    "pipeline.cli.data",             # demo-data, prepare-paper-subset
    "pipeline.cli.run",              # run, demo
    "pipeline.cli.sweep",            # sweep
    "pipeline.cli.report",           # report
    "pipeline.cli.kubeflow",         # compile, submit
    "pipeline.cli.serving",          # serve, predict
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rarespecies",
        description="TFX pipeline that trains, evaluates and serves a wildlife species classifier.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from pipeline.cli.flags import SettingsError
    try:
        return int(args.func(args) or 0)
    except SettingsError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")

