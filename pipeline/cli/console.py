"""What the command line prints beyond its flags: errors (a user error is a message, a bug is a
traceback), the log file's name, and the lines that say where a run's outputs went."""
import datetime
import logging
import os
import sys
import time
import traceback
from typing import Callable, Optional

from schema.errors import UserError
from schema.paths import shown as shown_path


def error(message: str, gap: bool = False) -> None:
    """`error: message` on stderr (after a blank line with `gap`, to set it off a log)."""
    print(("\n" if gap else "") + f"error: {message}", file=sys.stderr)


def warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def make_demo_data_if_missing(data_root: str) -> None:
    from pipeline.data import demo_data
    if not demo_data.present(data_root):
        print(f"Making the demo data in {shown_path(data_root)} ...")
        demo_data.generate(data_root, seed=0)


def report_written(config, written: dict, card) -> None:
    """The two lines after a report is written (report.write_report's results)."""
    print(f"Report: {shown_path(os.path.join(config.report_dir, 'metrics.md'))} "
          f"({len(written)} files in {shown_path(config.report_dir)})")
    if card:
        print(f"Model card: {shown_path(card)}")


def tensorboard_command(logdir: str) -> str:
    script = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    program = shown_path(script) if os.access(script, os.X_OK) else "tensorboard"
    return f"{program} --logdir {shown_path(logdir)}"


def log_path(config, command: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(config.output_dir, "logs", f"{config.pipeline_name}-{command}-{stamp}.log")


def run_pipeline_shown(config, verbose: bool, log_file: str, build=None,
                       describe: Callable = str) -> Optional[float]:
    """Runs the pipeline locally with a progress line per component; call it within
    progress.quiet_log(log_file), which keeps the libraries' output in the log. Returns the
    seconds it took, or None after printing why it failed: a UserError as its message (the
    traceback with `verbose`), any other error with its traceback (a bug)."""
    from pipeline import local_runner
    from pipeline.cli import progress
    started = time.time()
    print(f"Log: {shown_path(log_file)}")
    try:
        local_runner.run_pipeline(
            config, build=build,
            observe=lambda ids: progress.pipeline_progress(ids, sys.stdout, describe))
    except Exception as err:  # noqa: BLE001 - reported here, then a non-zero exit
        logging.exception("pipeline %r failed", config.pipeline_name)
        if verbose or not isinstance(err, UserError):
            traceback.print_exc()
        error(f"pipeline {config.pipeline_name!r} failed: {err}", gap=True)
        print(f"(full log: {shown_path(log_file)})", file=sys.stderr)
        return None
    return time.time() - started


def prepared(config):
    """(the config as the local runner will run it, None), or (None, exit status) after
    printing why it cannot run: 1 for the user's data (UserError), 2 for settings."""
    from pipeline import local_runner
    try:
        return local_runner.prepare(config), None
    except UserError as err:
        error(str(err))
        return None, 1
    except ValueError as err:
        error(str(err))
        return None, 2
