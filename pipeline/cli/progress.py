"""What a long command shows while it works, and where the rest goes.

`quiet_log(path, verbose)` sends everything the libraries print (TensorFlow's C++ log, Python
warnings, absl and Beam logging) to a log file, and keeps the terminal for the command's own
lines; with `verbose` the libraries' logging shows on the terminal too. `PipelineProgress` is a
logging handler that turns TFX's "Component X is running/finished" records and the Trainer's
epoch records (logger `rarespecies.progress`) into one line per component:

    [5/11] Transform ... done in 12.6 s
    [8/11] Trainer ...
        epoch 1/15  loss 2.871  accuracy 0.112  (9.6 s)
    [8/11] Trainer done in 160.2 s
"""
import contextlib
import io
import logging
import os
import sys
import time
import warnings
from typing import Callable, Dict, Optional, Sequence

from trainer.progress import LOGGER_NAME as PROGRESS_LOGGER

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Warnings of these packages are about the user's data (an empty species folder, drift):
# the terminal shows them; the libraries' warnings go to the log file only.
OWN_PACKAGES = ("components", "pipeline", "trainer", "serving", "schema")


class _OwnWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return (record.levelno >= logging.WARNING
                and record.name.split(".")[0] in OWN_PACKAGES)


class _Plain(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"

# TFX's LocalDagRunner and launcher log these (tfx/orchestration/local/local_dag_runner.py,
# portable/launcher.py, TFX 1.15): the message templates, not the formatted text.
_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."


class PipelineProgress(logging.Handler):
    """Prints `[i/n] <component> ... done in X s` (or `cached`) as TFX runs the components of
    `component_ids`, in order, and the Trainer's epoch lines under its component's line.
    `describe(component_id)` may name a component better (a sweep's configuration and seed)."""

    def __init__(self, component_ids: Sequence[str], out, describe: Callable = str):
        super().__init__(logging.INFO)
        self.ids = list(component_ids)
        self.out = out
        self.describe = describe
        self.current: Optional[str] = None
        self.started = 0.0
        self.cached = False
        self.line_open = False
        self.durations: Dict[str, float] = {}

    def _label(self, component_id: str) -> str:
        index = self.ids.index(component_id) + 1 if component_id in self.ids else "?"
        return f"[{index}/{len(self.ids)}] {self.describe(component_id)}"

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.msg == _RUNNING and record.args:
                self.current, self.started, self.cached = record.args[0], time.time(), False
                self._write(f"{self._label(self.current)} ...")
                self.line_open = True
            elif record.msg == _CACHED:
                self.cached = True
            elif record.msg == _FINISHED and record.args:
                component = record.args[0]
                seconds = time.time() - self.started
                self.durations[component] = seconds
                outcome = "cached" if self.cached else f"done in {seconds:.1f} s"
                self._write(f" {outcome}\n" if self.line_open else
                            f"{self._label(component)} {outcome}\n")
                self.line_open, self.current = False, None
            elif self.line_open and _OwnWarnings().filter(record):
                # The warning is printed next, on its own line (this handler runs first).
                self._write("\n")
                self.line_open = False
            elif record.name == PROGRESS_LOGGER:
                self._write(("\n" if self.line_open else "") + f"    {record.getMessage()}\n")
                self.line_open = False
        except Exception:  # noqa: BLE001 - progress must never stop a run
            self.handleError(record)

    def interrupted(self) -> None:
        """Ends an open line (the component failed)."""
        if self.line_open:
            self._write(" failed\n")
            self.line_open = False


def _terminal(stream, fd: int):
    """A stream to the terminal that survives redirecting `fd`: a duplicate of the file
    descriptor when `stream` writes to it, else `stream` itself (e.g. pytest's capture)."""
    try:
        if stream.fileno() == fd:
            return os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    return stream


@contextlib.contextmanager
def quiet_log(log_path: str, verbose: bool = False):
    """Within: Python logging (INFO and up), warnings and, unless `verbose`, everything written to
    file descriptors 1 and 2 (TensorFlow's C++ log) go to `log_path`; sys.stdout and sys.stderr
    still reach the terminal. Yields the terminal's stdout. With `verbose` the logging also
    shows on stderr."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    log_file = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
    saved_streams = sys.stdout, sys.stderr
    saved_fds = []
    root = logging.getLogger()
    saved_level = root.level
    handlers = [logging.StreamHandler(log_file)]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
    if not verbose:  # our own warnings on the terminal (stderr is the terminal's once set below)
        own = logging.StreamHandler()
        own.addFilter(_OwnWarnings())
        own.setFormatter(_Plain())
        handlers.append(own)
        root.addHandler(own)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        if not verbose:
            out, err = _terminal(sys.stdout, 1), _terminal(sys.stderr, 2)
            for fd in (1, 2):
                sys.__stdout__.flush() if fd == 1 else sys.__stderr__.flush()
                saved_fds.append((fd, os.dup(fd)))
                os.dup2(log_file.fileno(), fd)
            sys.stdout, sys.stderr = out, err
            handlers[-1].setStream(err)
        with warnings.catch_warnings():
            if not verbose:
                warnings.simplefilter("default")  # into the log (captureWarnings), once each
            yield sys.stdout
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in saved_fds:
            os.dup2(saved, fd)
            os.close(saved)
        for stream, saved in zip((sys.stdout, sys.stderr), saved_streams):
            if stream is not saved and stream not in saved_streams:
                stream.close()
        sys.stdout, sys.stderr = saved_streams
        logging.captureWarnings(False)
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(saved_level)
        log_file.close()


@contextlib.contextmanager
def pipeline_progress(component_ids: Sequence[str], out, describe: Callable = str):
    """PipelineProgress attached to the loggers that TFX and the Trainer write to."""
    from absl import flags as absl_flags
    from absl import logging as absl_logging
    # TFX logs component starts at INFO through absl. TFX's Beam executors parse absl's flags,
    # which resets absl's logger to the --verbosity flag's default (WARNING): INFO it is.
    absl_flags.FLAGS.set_default("verbosity", absl_logging.INFO)
    absl_logging.set_verbosity(absl_logging.INFO)
    handler = PipelineProgress(component_ids, out, describe)
    root = logging.getLogger()
    root.handlers.insert(0, handler)  # before the handler that prints our warnings
    try:
        yield handler
    except BaseException:
        handler.interrupted()
        raise
    finally:
        root.removeHandler(handler)


class ProgressBar:
    """`predict  120/560 images  34.1 images/s  ETA 13 s` on stderr: redrawn in place on a
    terminal, else a line at every tenth of the way (logs and CI stay short)."""

    def __init__(self, total: int, what: str = "images", out=None):
        self.total, self.what = total, what
        self.out = out or sys.stderr
        self.done = 0
        self.started = time.time()
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self._next_line = 0.1

    def update(self, count: int) -> None:
        self.done += count
        fraction = self.done / self.total if self.total else 1.0
        if not self.tty and fraction < self._next_line and self.done < self.total:
            return
        self._next_line = fraction + 0.1
        elapsed = max(time.time() - self.started, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        line = (f"{self.done}/{self.total} {self.what}  {rate:.1f} {self.what}/s  "
                f"ETA {eta:.0f} s")
        self.out.write(("\r" + line) if self.tty else line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
