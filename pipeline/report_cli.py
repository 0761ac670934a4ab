"""`rarespecies report`: the evaluation report of a pipeline's newest evaluation (also written
at the end of `rarespecies run`). See pipeline/report.py for what it contains."""
import argparse
import os
import sys

from pipeline.configs import PipelineConfig


def write_report(config: PipelineConfig) -> "report.ReportData":  # noqa: F821
    """Writes config.report_dir (and the model card next to a pushed model); prints where."""
    from pipeline import report
    data = report.gather(config)
    written = report.write(data, config.report_dir)
    card = report.write_model_card_next_to_model(data)
    print(f"Report: {os.path.join(config.report_dir, 'metrics.md')} "
          f"({len(written)} files in {config.report_dir})")
    if card:
        print(f"Model card: {card}")
    return data


def report_command(args) -> int:
    from pipeline import report
    config = PipelineConfig(**{k: v for k, v in vars(args).items()
                               if k in ("output_dir", "pipeline_name", "model_name") and v})
    config.output_dir = os.path.abspath(config.output_dir)
    try:
        data = write_report(config)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print()
    print(report.console_table(data))
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
