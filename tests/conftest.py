"""Fixtures shared by the whole suite. Helpers that are not fixtures live in tests/support/
(benchmarks import them too); test modules never import each other."""
import pytest

from tests.support.cli import run_rarespecies


@pytest.fixture
def rarespecies():
    """Runs `rarespecies ARGS` in a subprocess, as a user would; returns the CompletedProcess."""
    return run_rarespecies
