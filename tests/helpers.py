"""Helpers shared by the tests that start a `rarespecies serve` process (serving/process.py,
with a failed start-up reported as a test failure)."""
import pytest

from serving import process
from serving.process import REPO, free_port, start_serve, stop  # noqa: F401 (re-exported)

MODEL = "rarespecies"


def wait_ready(url: str, proc, log_path, version: str = None, timeout: float = 120,
               model: str = MODEL):
    try:
        process.wait_ready(url, proc, log_path, version=version, timeout=timeout, model=model)
    except RuntimeError as err:
        pytest.fail(str(err))
