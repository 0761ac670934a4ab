"""`rarespecies sweep`: train and evaluate several loss configurations on one Transform output
and write Table II (out/reports/<pipeline_name>/table2.md, .csv, .png)."""
import dataclasses
import functools
import logging
import time

from pipeline.cli import console, flags
from pipeline.cli.run import make_demo_data_if_missing


def sweep_command(args) -> int:
    from pipeline import local_runner, sweep
    from pipeline.pipeline import create_sweep_pipeline
    from pipeline.reports import table2
    try:
        variants = ([sweep.parse_variant(s) for s in args.configs] if args.configs
                    else sweep.paper_variants())
        variants += [sweep.parse_variant(s) for s in args.add_loss or []]
    except ValueError as err:
        console.error(str(err))
        return 2
    if args.repeats < 1:
        console.error("--repeats must be at least 1")
        return 2
    config = flags.config_from_args(args, demo=args.demo)
    if args.demo:
        make_demo_data_if_missing(config.data_root)
    # Its own pipeline (and metadata): a sweep's models are compared, never pushed, and must not
    # become the `run` pipeline's baseline. The table goes beside the run's reports.
    report_dir = config.report_dir
    config = dataclasses.replace(config, pipeline_name=f"{config.pipeline_name}_sweep")
    seed_list = sweep.seeds(config, args.repeats)
    trainer = config.trainer
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    print(f"Sweep: {len(variants)} configuration(s) x {len(seed_list)} seed(s) "
          f"({', '.join(v.label for v in variants)}), backbone {trainer.backbone}")
    started = time.time()
    try:
        local_runner.run_pipeline(config, build=functools.partial(
            create_sweep_pipeline, trainers=sweep.trainers(config, variants, seed_list)))
        summary = table2.summarise(table2.collect(config, variants, seed_list))
    except Exception as err:
        logging.exception("sweep failed")
        console.error(f"sweep failed: {err}", gap=True)
        return 1
    note = (f"Data: {config.data_root}; {trainer.image_size} px, {trainer.epochs} epochs, "
            f"weights {trainer.weights}, backbone {trainer.backbone}, seeds {seed_list}; "
            f"{time.time() - started:.0f} s.")
    paths = table2.write(summary, report_dir, len(seed_list), note)
    with open(paths["table2.md"]) as handle:
        print("\n" + handle.read())
    print(f"Written: {', '.join(paths.values())}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="the paper's Table II: several losses, same data and initial weights")
    flags.add_config_flags(parser)
    parser.add_argument("--configs", nargs="+", metavar="SPEC",
                        help="loss configurations instead of the paper's six, each a Table II "
                             "label ('CE', 'a.25 g2', ...), LOSS, or LOSS:name=value,... "
                             "(e.g. sigmoid_focal:alpha=0.5,gamma=1)")
    parser.add_argument("--add-loss", action="append", metavar="SPEC",
                        help="a configuration added to the list, repeatable "
                             "(e.g. logit_adjusted:tau=1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="seeds per configuration; the table gives mean and std (default 1)")
    parser.add_argument("--demo", action="store_true",
                        help="demo settings and demo data (made if missing)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every component")
    parser.set_defaults(func=sweep_command)
