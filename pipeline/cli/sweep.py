"""`rarespecies sweep`: train and evaluate several loss configurations on one Transform output
and write Table II (out/reports/<pipeline_name>/table2.md, .csv, .png)."""
import dataclasses
import functools
import logging
import time

from pipeline.cli import console, flags


def describer(variants, seed_list):
    """Names a sweep's component ids: `Trainer.CE.seed42` -> `Trainer CE, seed 42 (configuration
    1 of 6, seed 1 of 3)`."""
    slugs = [v.slug for v in variants]

    def describe(component_id: str) -> str:
        kind, _, rest = component_id.partition(".")
        slug, _, seed = rest.rpartition(".seed")
        if slug not in slugs or not seed.lstrip("-").isdigit() or int(seed) not in seed_list:
            return component_id
        i = slugs.index(slug)
        return (f"{kind} {variants[i].label}, seed {seed} (configuration {i + 1} of "
                f"{len(variants)}, seed {seed_list.index(int(seed)) + 1} of {len(seed_list)})")
    return describe


def sweep_command(args) -> int:
    from pipeline import sweep
    try:
        variants = ([sweep.parse_variant(s) for s in args.configs] if args.configs
                    else sweep.default_variants())
        variants += [sweep.parse_variant(s) for s in args.add_loss or []]
    except ValueError as err:
        console.error(str(err))
        return 2
    if args.repeats < 1:
        console.error("--repeats must be at least 1")
        return 2
    # The columns' shared settings are the paper recipe's unless --recipe says otherwise.
    args.recipe = args.recipe or "paper"
    config = flags.config_from_args(args, demo=args.demo)
    given = flags.given_fields(args) - {"recipe"}
    if args.demo:
        console.make_demo_data_if_missing(config.data_root)
    # Its own pipeline (and metadata): a sweep's models are compared, never pushed, and must not
    # become the `run` pipeline's baseline. The table goes beside the run's reports.
    report_dir = config.report_dir
    config = dataclasses.replace(config, pipeline_name=f"{config.pipeline_name}_sweep")
    seed_list = sweep.seeds(config, args.repeats)
    trainer = config.trainer
    config, status = console.prepared(config)
    if status is not None:
        return status
    print(f"Sweep: {len(variants)} configuration(s) x {len(seed_list)} seed(s) "
          f"({', '.join(v.label for v in variants)}), backbone {trainer.backbone}")
    from pipeline.cli import progress
    started = time.time()
    log_file = console.log_path(config, "sweep")
    with progress.quiet_log(log_file, args.verbose):
        from pipeline.pipeline import create_sweep_pipeline  # TFX: its import noise goes to the log
        from pipeline.reports import table2
        seconds = console.run_pipeline_shown(
            config, args.verbose, log_file, describe=describer(variants, seed_list),
            build=functools.partial(create_sweep_pipeline,
                                    trainers=sweep.trainers(config, variants, seed_list, given)))
        if seconds is None:
            return 1
        try:
            summary = table2.summarise(table2.collect(config, variants, seed_list))
        except Exception as err:  # noqa: BLE001 - the models are trained; say what is missing
            logging.exception("sweep results")
            console.error(f"sweep ran, but its results could not be read: {err}", gap=True)
            return 1
    note = (f"Data: {config.data_root}; {trainer.image_size} px, {trainer.epochs} epochs, "
            f"weights {trainer.weights}, backbone {trainer.backbone}, seeds {seed_list}; "
            f"{time.time() - started:.0f} s.")
    paths = table2.write(summary, report_dir, len(seed_list), note)
    with open(paths["table2.md"]) as handle:
        print("\n" + handle.read())
    print(f"Written: {', '.join(console.shown_path(p) for p in paths.values())}")
    print(f"Training curves: {console.tensorboard_command(config.pipeline_root)}")
    print(f"Full log: {console.shown_path(log_file)}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="the paper's Table II and the long-tail recipe: several trainings on the "
                      "same data and initial weights")
    flags.add_config_flags(parser)
    parser.add_argument("--configs", nargs="+", metavar="SPEC",
                        help="configurations instead of the paper's six and the longtail recipe, "
                             "each a Table II label ('CE', 'a.25 g2', ...), 'longtail', LOSS, "
                             "LOSS:name=value,... (e.g. sigmoid_focal:alpha=0.5,gamma=1), or "
                             "RECIPE:setting=value,... (e.g. longtail:sampling=natural)")
    parser.add_argument("--add-loss", action="append", metavar="SPEC",
                        help="a configuration added to the list, repeatable "
                             "(e.g. logit_adjusted:tau=1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="seeds per configuration; the table gives mean and std (default 1)")
    parser.add_argument("--demo", action="store_true",
                        help="demo settings and demo data (made if missing)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the libraries' log and the traceback of any error")
    parser.set_defaults(func=sweep_command)
