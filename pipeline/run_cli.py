"""`rarespecies run` (the pipeline, locally with Beam) and `rarespecies demo` (the same on the
embedded synthetic data, made first if missing)."""
import argparse
import logging
import os
import sys
import time

from pipeline import beam
from pipeline.configs import (DEMO_OVERRIDES, REPO_ROOT, PipelineConfig, check_paths,
                              make_config)

LOSS_CHOICES = ("cross_entropy", "sigmoid_focal", "softmax_focal", "class_balanced_focal",
                "logit_adjusted")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that override pipeline.configs.PipelineConfig (None: keep the config's default)."""
    d = PipelineConfig()
    add = parser.add_argument
    add("--data-root", help=f"folder with train/ and test/ (default {d.data_root})")
    add("--csv-index", help="Kaggle CSV index (filepaths,labels,data set), relative to --data-root")
    add("--output-dir", help=f"where everything is written (default {d.output_dir})")
    add("--pipeline-name", help=f"default {d.pipeline_name}")
    add("--model-name", help=f"served model name (default {d.model_name})")
    add("--schema", dest="schema_path", help="curated schema.pbtxt (default schema/schema.pbtxt)")
    add("--image-size", type=int, help=f"pixels a side (default {d.image_size})")
    add("--width", type=float, help=f"MobileNetV2 width multiplier (default {d.width})")
    add("--weights", help="none | imagenet (from Keras' cache) | PATH to .h5 (default none)")
    add("--backbone", choices=("full", "frozen"), help="fine-tune all, or train the head only")
    add("--loss", choices=LOSS_CHOICES, help=f"default {d.loss}")
    add("--alpha", type=float, help=f"focal alpha (default {d.alpha})")
    add("--gamma", type=float, help=f"focal gamma (default {d.gamma})")
    add("--beta", type=float, help=f"class-balanced beta (default {d.beta})")
    add("--tau", type=float, help=f"logit adjustment tau (default {d.tau})")
    add("--posthoc-tau", type=float, help="post-hoc logit adjustment in the exported model")
    add("--epochs", type=int, help=f"default {d.epochs}")
    add("--batch-size", type=int, help=f"default {d.batch_size}")
    add("--learning-rate", type=float, help=f"default {d.learning_rate}")
    add("--seed", type=int, help=f"default {d.seed}")
    add("--no-augment", dest="augment", action="store_const", const=False,
        help="turn off training-time flips and crops")
    add("--min-accuracy", type=float, help="blessing floor on eval accuracy")
    add("--rare-group", choices=("bottom_2", "bottom_5", "bottom_10", "few"),
        help=f"species group whose accuracy may not fall against the baseline "
             f"(default {d.rare_group})")
    add("--max-rare-accuracy-drop", type=float,
        help=f"largest absolute fall of the rare group's accuracy against the latest blessed "
             f"model that still blesses (default {d.max_rare_accuracy_drop}; 1 turns it off)")
    add("--max-macro-f1-drop", type=float,
        help=f"largest absolute fall of macro-F1 against the latest blessed model that still "
             f"blesses (default {d.max_macro_f1_drop}; 1 turns it off)")
    add("--on-leakage", choices=("fail", "warn"),
        help=f"the same image (sha256) in train and test: stop the run or only warn "
             f"(default {d.on_leakage})")
    add("--on-drift", choices=("fail", "warn"),
        help=f"test's species distribution far from train's: stop the run or only warn "
             f"(default {d.on_drift})")
    add("--max-species-drift", type=float,
        help=f"largest L-infinity distance between test's and train's species shares that is "
             f"not drift (default {d.max_species_drift})")
    add("--no-cache", dest="enable_cache", action="store_const", const=False,
        help="recompute every component instead of reusing unchanged outputs")
    add("--beam-arg", dest="beam_args", action="append", metavar="ARG",
        help="a Beam pipeline argument, repeatable (replaces the DirectRunner defaults)")


def config_from_args(args, demo: bool = False) -> PipelineConfig:
    names = [f for f in PipelineConfig.__dataclass_fields__]
    overrides = {name: getattr(args, name, None) for name in names}
    config = make_config(overrides, demo=demo)
    # Absolute paths: TFX records them in ML Metadata and Beam workers resolve them elsewhere.
    for field in ("output_dir", "data_root", "schema_path"):
        if "://" not in getattr(config, field):
            setattr(config, field, os.path.abspath(getattr(config, field)))
    return config


def ensure_demo_data(data_root: str) -> None:
    """Makes the demo data in data_root unless a dataset is already there."""
    if not os.path.isdir(os.path.join(data_root, "train")):
        from pipeline import demo_data
        print(f"Making the demo data in {data_root} ...")
        demo_data.generate(data_root, seed=0)


def run_pipeline(config: PipelineConfig, build=None) -> None:
    """Runs with LocalDagRunner the pipeline that `build(config, metadata_connection_config,
    input_fingerprint=...)` makes (default: pipeline.create_pipeline)."""
    from tfx import v1 as tfx
    from components.image_example_gen import listing
    from pipeline.pipeline import create_pipeline
    build = build or create_pipeline

    check_paths(config)
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    fingerprint = listing.fingerprint(config.data_root, config.csv_index or None)
    # TFX's Beam executors parse sys.argv with absl flags; our own flags (e.g. -v, which absl
    # reads as --verbosity) must not reach them.
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        tfx.orchestration.LocalDagRunner().run(build(
            config,
            tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
            input_fingerprint=fingerprint))
    finally:
        sys.argv = argv


def print_summary(config: PipelineConfig, seconds: float) -> None:
    from pipeline import summary
    outputs = summary.run_outputs(config.metadata_path, config.pipeline_name)
    print(f"\nPipeline {config.pipeline_name!r} finished in {seconds:.0f} s "
          f"(root {config.pipeline_root})")
    if outputs["pushed"]:
        print(f"Model blessed and pushed to {outputs['pushed_destination']}")
    else:
        print(f"Model NOT pushed (blessed: {outputs['blessed']}); the serving directory "
              f"{config.serving_model_dir} keeps its previous versions")
    if outputs["evaluation"]:
        # The report (pipeline/report.py): files under config.report_dir, Table II here.
        from pipeline import report, report_cli
        print(f"Evaluation: {outputs['evaluation']}")
        data = report_cli.write_report(config)
        print("\n" + report.console_table(data))
        print("\n".join(report.validation_lines(data)))


def run_command(args) -> int:
    config = config_from_args(args, demo=args.demo)
    if args.demo:
        ensure_demo_data(config.data_root)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        if "://" in config.output_dir:
            raise ValueError(f"--output-dir {config.output_dir!r}: a local run keeps ML Metadata "
                             "in a local SQLite file, so it needs a local folder (remote outputs "
                             "are for `rarespecies compile`)")
        check_paths(config)
        # The Beam-powered components on another runner (Dataflow, Flink, Spark) while this
        # machine orchestrates; checked here so that a missing flag fails before the run.
        config.beam_args = beam.pipeline_args(args.beam_runner, config.beam_args,
                                              os.path.join(REPO_ROOT, "setup.py"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    started = time.time()
    try:
        run_pipeline(config)
    except Exception as err:  # the component's own error, then a non-zero exit
        logging.exception("pipeline failed")
        print(f"\nerror: pipeline {config.pipeline_name!r} failed: {err}", file=sys.stderr)
        return 1
    try:
        print_summary(config, time.time() - started)
    except Exception as err:  # the model is pushed (or not) already; say the report failed
        logging.exception("report failed")
        print(f"\nerror: pipeline {config.pipeline_name!r} ran, but its report failed: {err}",
              file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers) -> None:
    run = subparsers.add_parser("run", help="run the pipeline locally (LocalDagRunner + Beam)")
    demo = subparsers.add_parser(
        "demo", help="make the demo data if missing, then run the pipeline with demo settings "
                     f"({', '.join(f'{k}={v}' for k, v in DEMO_OVERRIDES.items())})")
    for parser, is_demo in ((run, False), (demo, True)):
        add_config_arguments(parser)
        parser.add_argument("--beam-runner", default="DirectRunner", choices=beam.RUNNERS,
                            help="runner of the Beam-powered components (default DirectRunner); "
                                 "others need their flags as --beam-arg, e.g. "
                                 "--beam-arg=--project=...")
        parser.add_argument("-v", "--verbose", action="store_true", help="log every component")
        parser.set_defaults(func=run_command, demo=is_demo)
