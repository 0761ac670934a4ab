"""The `rarespecies` command line. Each subcommand lives in its own module, which provides
`add_parser(subparsers)`; heavy imports (TensorFlow, TFX) happen inside the handlers so that
`rarespecies --help` answers at once."""
import argparse
import importlib
import os
import sys

# Quiet defaults, inherited by Beam's worker processes; set either variable to override.
# TF's C++ INFO lines and google-api-core's Python-version FutureWarnings fill thousands of
# lines per run and hide the summary.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")

# Modules providing add_parser(subparsers), in the order of the help text.
SUBCOMMAND_MODULES = (
    "pipeline.demo_data_cli",        # demo-data
    "pipeline.run_cli",              # run, demo
    "pipeline.sweep_cli",            # sweep
    "pipeline.report_cli",           # report
    "pipeline.kubeflow_cli",         # compile, submit
    "serving.cli",                   # serve, predict
    "pipeline.paper_subset_cli",     # prepare-paper-subset
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
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
