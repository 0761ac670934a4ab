"""`rarespecies run` (the pipeline, locally with Beam) and `rarespecies demo` (the same on the
embedded synthetic data, made first if missing)."""
import logging
import time

from pipeline.cli import console, flags
from pipeline.configs import DEMO_OVERRIDES


def make_demo_data_if_missing(data_root: str) -> None:
    from pipeline.data import demo_data
    if not demo_data.present(data_root):
        print(f"Making the demo data in {data_root} ...")
        demo_data.generate(data_root, seed=0)


def print_summary(config, seconds: float) -> None:
    from pipeline.reports import mlmd, report, tables
    outputs = mlmd.run_outputs(config.metadata_path, config.pipeline_name)
    print(f"\nPipeline {config.pipeline_name!r} finished in {seconds:.0f} s "
          f"(root {config.pipeline_root})")
    if outputs["pushed"]:
        print(f"Model blessed and pushed to {outputs['pushed_destination']}")
    else:
        print(f"Model NOT pushed (blessed: {outputs['blessed']}); the serving directory "
              f"{config.serving_model_dir} keeps its previous versions")
    if outputs["evaluation"]:
        print(f"Evaluation: {outputs['evaluation']}")
        data, written, card = report.write_report(config)
        console.report_written(config, written, card)
        print("\n" + tables.console_table(data))
        print("\n".join(tables.validation_lines(data)))


def run_command(args) -> int:
    from pipeline import local_runner
    config = flags.config_from_args(args, demo=args.demo)
    if args.demo:
        make_demo_data_if_missing(config.data_root)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        config = local_runner.prepare(config)
    except ValueError as err:
        console.error(str(err))
        return 2
    started = time.time()
    try:
        local_runner.run_pipeline(config)
    except Exception as err:  # the component's own error, then a non-zero exit
        logging.exception("pipeline failed")
        console.error(f"pipeline {config.pipeline_name!r} failed: {err}", gap=True)
        return 1
    try:
        print_summary(config, time.time() - started)
    except Exception as err:  # the model is pushed (or not) already; say the report failed
        logging.exception("report failed")
        console.error(f"pipeline {config.pipeline_name!r} ran, but its report failed: {err}",
                      gap=True)
        return 1
    return 0


def add_parser(subparsers) -> None:
    run = subparsers.add_parser("run", help="run the pipeline locally (LocalDagRunner + Beam)")
    demo = subparsers.add_parser(
        "demo", help="make the demo data if missing, then run the pipeline with demo settings "
                     f"({', '.join(f'{k}={v}' for k, v in DEMO_OVERRIDES.items())})")
    for parser, is_demo in ((run, False), (demo, True)):
        flags.add_config_flags(parser)
        parser.add_argument("-v", "--verbose", action="store_true", help="log every component")
        parser.set_defaults(func=run_command, demo=is_demo)
