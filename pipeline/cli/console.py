"""What the command line prints beyond its flags: errors, and the lines that say where a
run's report went."""
import os
import sys


def error(message: str, gap: bool = False) -> None:
    """`error: message` on stderr (after a blank line with `gap`, to set it off a log)."""
    print(("\n" if gap else "") + f"error: {message}", file=sys.stderr)


def report_written(config, written: dict, card) -> None:
    """The two lines after a report is written (report.write_report's results)."""
    print(f"Report: {os.path.join(config.report_dir, 'metrics.md')} "
          f"({len(written)} files in {config.report_dir})")
    if card:
        print(f"Model card: {card}")


def warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
