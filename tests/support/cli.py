"""The `rarespecies` command as a user runs it: a subprocess of the installed console script."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def rarespecies_command() -> list:
    """The installed console script next to this Python, else `python -m pipeline.cli`."""
    script = Path(sys.executable).with_name("rarespecies")
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "pipeline.cli"]


def run_rarespecies(*args, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """`rarespecies ARGS` from the repository root, output captured as text."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **kwargs.pop("env", {}))
    return subprocess.run(rarespecies_command() + [str(a) for a in args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
