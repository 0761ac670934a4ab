"""Security basics: the REST server listens on 127.0.0.1 unless told otherwise, request data is
never unpickled or evaluated, paths from configs and the CLI are checked with clear errors, and
no secret is in the repository. (The dependency audit is in docs/security.md.)"""
import argparse
import ast
import inspect
import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.configs import check_paths, make_config
from schema.features import SCHEMA_PATH

REPO = Path(__file__).resolve().parents[2]


# -- the server's address ------------------------------------------------------------------------
def test_serve_binds_127_0_0_1_unless_told_otherwise():
    from pipeline.cli import serving as cli
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["serve", "--model-base-path", "x"])
    assert args.host == "127.0.0.1"
    assert parser.parse_args(["serve", "--model-base-path", "x", "--host", "0.0.0.0"]).host \
        == "0.0.0.0"  # an explicit choice, e.g. in a container
    from serving import server  # the library default too
    assert inspect.signature(server.serve).parameters["host"].default == "127.0.0.1"


# -- request data is parsed, never executed -----------------------------------------------------
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib",
                  "jsonpickle"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}
UNSAFE_TEXT = re.compile(r"\b(pickle|marshal|shelve|dill|jsonpickle)\s*\.\s*(loads?|Unpickler)\b"
                         r"|\byaml\s*\.\s*(load|unsafe_load|full_load|load_all)\s*\("
                         r"|\b(eval|exec)\s*\(|allow_pickle\s*=\s*True|shell\s*=\s*True")


def serving_sources():
    files = sorted((REPO / "serving").rglob("*.py"))
    assert len(files) >= 5
    return files


@pytest.mark.parametrize("path", serving_sources(), ids=lambda p: p.name)
def test_serving_never_unpickles_or_evaluates(path):
    source = path.read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        else:
            names = set()
        assert not names & UNSAFE_MODULES, f"{path.name}:{node.lineno} imports {names}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in UNSAFE_CALLS, f"{path.name}:{node.lineno} {node.func.id}()"
    for number, line in enumerate(source.splitlines(), 1):  # and a plain grep, comments too
        assert not UNSAFE_TEXT.search(line), f"{path.name}:{number}: {line.strip()}"


# -- paths from configs and the command line ----------------------------------------------------
@pytest.fixture
def dataset(tmp_path):
    (tmp_path / "data" / "train" / "Robin").mkdir(parents=True)
    return tmp_path


def config(dataset, **overrides):
    values = dict(data_root=str(dataset / "data"), output_dir=str(dataset / "out"))
    values.update(overrides)
    return make_config(values)


def test_good_paths_pass(dataset):
    check_paths(config(dataset))
    (dataset / "data" / "index.csv").write_text("filepaths,labels,data set\n")
    check_paths(config(dataset, csv_index="index.csv"))
    # Remote paths are the runner's business.
    check_paths(config(dataset, data_root="gs://bucket/data", output_dir="gs://bucket/out"))


@pytest.mark.parametrize("overrides, message", [
    (dict(data_root="{tmp}/missing"), "data root '{tmp}/missing' does not exist"),
    (dict(data_root="{tmp}/a_file"), "data root '{tmp}/a_file' is not a folder"),
    (dict(csv_index="nope.csv"), "CSV index 'nope.csv' is not a file in the data root"),
    (dict(output_dir="{tmp}/data/out"), "output folder '{tmp}/data/out' is inside the data root"),
    (dict(output_dir="{tmp}/data"), "output folder '{tmp}/data' is inside the data root"),
    (dict(output_dir="{tmp}/link/out"), "output folder '{tmp}/link/out' is inside the data root"),
    (dict(output_dir="{tmp}/a_file"), "output folder '{tmp}/a_file' is a file"),
    (dict(schema_path="{tmp}/schema.pbtxt"), "schema file '{tmp}/schema.pbtxt' does not exist"),
    (dict(on_leakage="ignore"), "on_leakage must be 'fail' or 'warn'"),
], ids=["missing-root", "root-is-file", "missing-csv", "out-in-root", "out-is-root",
        "out-in-root-via-symlink", "out-is-file", "missing-schema", "bad-policy"])
def test_bad_paths_are_named(dataset, overrides, message):
    (dataset / "a_file").write_text("x")
    os.symlink(dataset / "data", dataset / "link")
    tmp = str(dataset)
    with pytest.raises(ValueError) as error:
        check_paths(config(dataset, **{k: v.format(tmp=tmp) for k, v in overrides.items()}))
    assert message.format(tmp=tmp) in str(error.value)


def test_cli_checks_paths_before_running(dataset, rarespecies):
    done = rarespecies("run", "--data-root", str(dataset / "missing"),
                       "--output-dir", str(dataset / "out"))
    assert done.returncode == 2
    assert f"error: data root '{dataset / 'missing'}' does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (dataset / "out").exists()  # nothing written

    # A relative --schema is resolved against the working folder, then checked.
    done = rarespecies("run", "--data-root", str(dataset / "data"), "--output-dir",
                       str(dataset / "out"), "--schema", "no/such/schema.pbtxt")
    assert done.returncode == 2
    assert f"error: schema file '{REPO / 'no/such/schema.pbtxt'}' does not exist" in done.stderr

    done = rarespecies("run", "--data-root", str(dataset / "data"), "--output-dir",
                       str(dataset / "data" / "out"))
    assert done.returncode == 2 and "is inside the data root" in done.stderr


def test_cli_leakage_and_drift_policies_reach_the_gate(dataset):
    from pipeline.pipeline import create_components
    from pipeline.cli.flags import add_config_flags, config_from_args
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(["--data-root", str(dataset / "data"), "--on-leakage", "warn",
                              "--on-drift", "fail", "--max-species-drift", "0.3"])
    cfg = config_from_args(args)
    assert (cfg.on_leakage, cfg.on_drift, cfg.max_species_drift) == ("warn", "fail", 0.3)
    assert os.path.isabs(cfg.schema_path) and cfg.schema_path == SCHEMA_PATH
    components = {c.id: c for c in create_components(cfg)}
    gate = components["ValidationGate"]
    assert (gate.exec_properties["on_leakage"], gate.exec_properties["on_drift"]) == \
        ("warn", "fail")
    drift = components["species_drift"].exec_properties["distribution_validator_config"]
    assert drift.default_slice_config.feature[0].distribution_comparator.infinity_norm \
        .threshold == pytest.approx(0.3)
    defaults = config_from_args(parser.parse_args([]))
    assert (defaults.on_leakage, defaults.on_drift) == ("fail", "warn")


# -- no secrets in the repository ---------------------------------------------------------------
SECRET_PATTERNS = {  # assembled from parts so that this file does not match itself
    "private key": re.compile("-----BEGIN ([A-Z0-9]+ )*" + "PRIVATE KEY( BLOCK)?-----"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)" + r"[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"aws_secret_access_key\s*[:=]\s*['\"]?" + r"[A-Za-z0-9/+=]{40}",
                                 re.I),
    "GitHub token": re.compile(r"\b(gh[pousr]_" + r"[A-Za-z0-9]{36,}|github_pat_"
                               + r"[A-Za-z0-9_]{60,})"),
    "Slack token": re.compile(r"\bxox[abprs]-" + r"[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza" + r"[0-9A-Za-z_\-]{35}\b"),
    "OpenAI-style key": re.compile(r"\bsk-" + r"(proj-)?[A-Za-z0-9_\-]{32,}"),
    "private key in JSON": re.compile(r"\"private_key\"\s*:\s*\"" + r"-----BEGIN"),
    "password assignment": re.compile(r"\b(password|passwd|secret|api_key|apikey|token)\s*[:=]\s*"
                                      + r"['\"][^'\"\s{}$<>]{12,}['\"]", re.I),
}


def repository_files():
    """Tracked files and new files that would be committed (not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    return sorted({REPO / name for name in listed if name and (REPO / name).is_file()})


def test_no_secrets_in_the_repository():
    files = repository_files()
    assert len(files) > 50
    found = []
    for path in files:
        if path.stat().st_size > 5 * 2**20:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (images, sqlite): no text secrets to grep for
        text = data.decode("utf-8", errors="replace")
        for kind, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {kind}")
    assert found == []


def test_secret_patterns_do_find_secrets():
    """The scan above is only as good as its patterns: each finds a made-up example."""
    examples = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "AWS access key id": "AKIA" + "ABCDEFGHIJKLMNOP",
        "GitHub token": "ghp_" + "a" * 36,
        "Slack token": "xoxb-" + "1234567890-abc",
        "Google API key": "AIza" + "B" * 35,
        "OpenAI-style key": "sk-" + "c" * 40,
        "password assignment": "password = '" + "hunter2hunter2" + "'",
    }
    for kind, text in examples.items():
        assert SECRET_PATTERNS[kind].search(text), kind
