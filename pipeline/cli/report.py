"""`rarespecies report`: the evaluation report of a pipeline's newest evaluation (also written
at the end of `rarespecies run`). See pipeline/reports/report.py for what it contains."""
import argparse
import os

from pipeline.cli import console
from pipeline.configs import PipelineConfig, make_config


def report_command(args) -> int:
    from pipeline.reports import report, tables
    config = make_config({k: v for k, v in vars(args).items()
                          if k in ("output_dir", "pipeline_name", "model_name") and v})
    config.output_dir = os.path.abspath(config.output_dir)
    try:
        data, written, card = report.write_report(config)
    except FileNotFoundError as err:
        console.error(str(err))
        return 1
    console.report_written(config, written, card)
    print()
    print(tables.console_table(data))
    return 0


def add_parser(subparsers) -> None:
    d = PipelineConfig()
    parser = subparsers.add_parser(
        "report", help="write the evaluation report of the newest run (Markdown, CSV, PNG, "
                       "model card)",
        description="Reads the newest evaluation of a pipeline (ML Metadata + TFMA's output) "
                    "and writes <output-dir>/reports/<pipeline-name>/: metrics.md, metrics.csv "
                    "(Table II's groups, candidate and baseline), per_species.csv, figures and "
                    "model_card.md (also into the pushed model's assets.extra/).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output-dir", default=d.output_dir,
                        help="the run's output folder (metadata, pipelines, reports)")
    parser.add_argument("--pipeline-name", default=d.pipeline_name)
    parser.add_argument("--model-name", default=d.model_name, help="named in the model card")
    parser.set_defaults(func=report_command)
