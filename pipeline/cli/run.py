"""`rarespecies run` (the pipeline, locally with Beam) and `rarespecies demo` (the same on the
embedded synthetic data, made first if missing)."""
import logging
import os
import traceback

from pipeline.cli import console, flags
from pipeline.configs import DEMO_OVERRIDES


def print_summary(config, seconds: float, log_file: str = "") -> None:
    from pipeline.reports import mlmd, report, tables
    outputs = mlmd.run_outputs(config.metadata_path, config.pipeline_name)
    print(f"\nPipeline {config.pipeline_name!r} finished in {seconds:.0f} s "
          f"(root {console.shown_path(config.pipeline_root)})")
    if outputs["pushed"]:
        print(f"Model blessed and pushed to {console.shown_path(outputs['pushed_destination'])}")
    else:
        print(f"Model NOT pushed (blessed: {outputs['blessed']}); the serving directory "
              f"{console.shown_path(config.serving_model_dir)} keeps its previous versions")
    if outputs["model_run"]:
        # Every run of this Trainer, each in its own folder: TensorBoard shows them side by side.
        runs = console.shown_path(os.path.dirname(outputs["model_run"].rstrip("/")))
        print(f"Training curves: {console.tensorboard_command(runs)}")
    if log_file:
        print(f"Full log: {console.shown_path(log_file)}")
    if outputs["evaluation"]:
        data, written, card = report.write_report(config)
        console.report_written(config, written, card)
        print("\n" + tables.console_table(data))
        print("\n".join(tables.validation_lines(data)))


def run_command(args) -> int:
    config = flags.config_from_args(args, demo=args.demo)
    if args.demo:
        console.make_demo_data_if_missing(config.data_root)
    config, status = console.prepared(config)
    if status is not None:
        return status
    from pipeline.cli import progress
    log_file = console.log_path(config, "run")
    with progress.quiet_log(log_file, args.verbose):
        seconds = console.run_pipeline_shown(config, args.verbose, log_file)
        if seconds is None:
            return 1
        try:
            print_summary(config, seconds, log_file)
        except Exception as err:  # the model is pushed (or not) already; say the report failed
            logging.exception("report failed")
            traceback.print_exc()
            console.error(f"pipeline {config.pipeline_name!r} ran, but its report failed: "
                          f"{err}", gap=True)
            return 1
    return 0


def add_parser(subparsers) -> None:
    run = subparsers.add_parser("run", help="run the pipeline locally (LocalDagRunner + Beam)")
    demo = subparsers.add_parser(
        "demo", help="make the demo data if missing, then run the pipeline with demo settings "
                     f"({', '.join(f'{k}={v}' for k, v in DEMO_OVERRIDES.items())})")
    for parser, is_demo in ((run, False), (demo, True)):
        flags.add_config_flags(parser)
        parser.add_argument("-v", "--verbose", action="store_true",
                            help="show the libraries' log and the traceback of any error")
        parser.set_defaults(func=run_command, demo=is_demo)
