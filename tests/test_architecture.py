"""The layout's rules, checked on the source: modules stay short, the data contract is defined
once (schema/features.py, trainer/hparams.py), tests and benchmarks import only tests/support,
and nothing points to a file outside the repository."""
import ast
from pathlib import Path

import pytest

from schema.features import GROUPS, MAX_IMAGE_PIXELS
from trainer.hparams import LOSSES

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("schema", "components", "trainer", "pipeline", "serving")
SOURCES = sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))
MAX_LINES = 350


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def constants(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant):
            yield node


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_modules_stay_short(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_group_names_and_the_pixel_limit_are_defined_once():
    owner = REPO / "schema" / "features.py"
    found = [(rel(p), node.value, node.lineno) for p in SOURCES if p != owner
             for node in constants(p)
             if node.value in GROUPS
             or (type(node.value) is int and node.value == MAX_IMAGE_PIXELS)]
    assert found == []


def test_loss_names_are_listed_once():
    """No literal names two losses at once outside trainer/hparams.py (a loss list)."""
    owner = REPO / "trainer" / "hparams.py"
    found = []
    for path in SOURCES:
        if path == owner:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                names = {i.value for i in items if isinstance(i, ast.Constant)} & set(LOSSES)
                if len(names) > 1:
                    found.append((rel(path), node.lineno, sorted(names)))
    assert found == []


def imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_tests_and_benchmarks_import_only_tests_support():
    files = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "benchmarks").glob("*.py"))
    found = [(rel(p), module) for p in files for module in imported_modules(p)
             if module.split(".")[0] in ("tests", "benchmarks")
             and not module.startswith("tests.support") and module != "tests"]
    assert found == []


def test_packages_do_not_import_tests_or_benchmarks():
    found = [(rel(p), m) for p in SOURCES for m in imported_modules(p)
             if m.split(".")[0] in ("tests", "benchmarks")]
    assert found == []


def test_nothing_refers_to_the_design_notes_outside_the_repository():
    files = [p for p in REPO.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".txt", "")
             and not any(part.startswith(".") or part in ("out", "build") for part in
                         p.relative_to(REPO).parts)]
    name = "design" + ".md"  # assembled, so that this file does not match itself
    assert [rel(p) for p in files if name in p.read_text(errors="replace")] == []
