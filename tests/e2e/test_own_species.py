"""A new user's first run on their own species, through the real command line: the run stops
before ingestion with the command that writes a schema; that schema lets the same run pass;
`--schema infer` does both in one step; the terminal shows a line per component, not the
libraries' log, which goes to the file the summary names."""
import os
import re
import shutil

import pytest

from pipeline.data import demo_data
from schema import curated
from tests.support.cli import REPO, run_rarespecies

pytestmark = pytest.mark.slow

RENAMED = {"Sora": "Kiwi", "Robin": "Weka", "Crow": "Kea"}  # not in the paper's schema
TRAIN = {"Sora": 12, "Robin": 4, "Crow": 6}
FLAGS = ["--image-size", "32", "--epochs", "2", "--batch-size", "8", "--min-accuracy", "0",
         "--weights", "none", "--classifier-retrain-epochs", "2"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("own_species")
    data = root / "data"
    demo_data.generate(data, seed=3, image_size=40, species=list(TRAIN), train_counts=TRAIN,
                       test_counts={s: 3 for s in TRAIN}, workers=1)
    for split in ("train", "test"):
        for old, new in RENAMED.items():
            shutil.move(str(data / split / old), str(data / split / new))
    return root


def test_unknown_species_stop_the_run_before_ingestion_without_a_traceback(dataset, rarespecies):
    done = rarespecies("run", "--data-root", dataset / "data", "--output-dir",
                       dataset / "refused", *FLAGS)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "are not in the schema" in done.stderr and "Kea, Kiwi, Weka" in done.stderr
    assert f"rarespecies schema --data-root {dataset / 'data'} --output data_schema.pbtxt" \
        in done.stderr
    assert not (dataset / "refused").exists()  # stopped before anything ran


@pytest.fixture(scope="module")
def schema_and_run(dataset):
    schema = dataset / "kiwi_schema.pbtxt"
    written = run_rarespecies("schema", "--data-root", dataset / "data", "--output", schema)
    run = run_rarespecies("run", "--data-root", dataset / "data", "--output-dir",
                          dataset / "out", "--schema", schema, *FLAGS)
    return schema, written, run


def test_the_schema_command_writes_the_species(schema_and_run):
    schema, written, _ = schema_and_run
    assert written.returncode == 0, written.stderr
    assert curated.read_species(str(schema)) == ["Kea", "Kiwi", "Weka"]
    assert "Review the species domain" in written.stdout


def test_with_the_schema_the_run_passes_and_prints_a_screen(schema_and_run, dataset):
    _, _, run = schema_and_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert len(lines) < 60, run.stdout
    steps = [line for line in lines if re.match(r"\[\d+/11\] ", line)]
    assert steps[0].startswith("[1/11] ImageExampleGen ... done in ")
    assert any(line.startswith("[11/11] Pusher ... done in ") for line in steps)
    assert sum(line.strip().startswith("epoch ") for line in lines) == 2  # the Trainer's epochs
    assert any(line.startswith("Model blessed and pushed to ") for line in lines)
    assert any("tensorboard --logdir " in line for line in lines)
    log_file = next(line for line in lines if line.startswith("Full log: ")).split(": ", 1)[1]
    # The libraries' output is in the log, not on the terminal.
    for noise in ("tensorflow", "absl", "Beam"):
        assert noise not in run.stdout + run.stderr.replace("tensorboard", "")
    with open(os.path.join(REPO, log_file)) as handle:  # relative paths are the repository's
        log = handle.read()
    assert "Component Transform is running." in log and "tensorflow" in log


def test_schema_infer_writes_and_uses_the_schema_in_one_run(dataset, rarespecies):
    done = rarespecies("run", "--data-root", dataset / "data", "--output-dir", dataset / "out",
                       "--pipeline-name", "inferred", "--schema", "infer", *FLAGS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    inferred = dataset / "out" / "schemas" / "inferred" / "schema.pbtxt"
    assert curated.read_species(str(inferred)) == ["Kea", "Kiwi", "Weka"]
    assert "Model blessed and pushed to " in done.stdout


def test_data_that_fail_validation_stop_the_run_with_a_message_not_a_traceback(dataset,
                                                                              rarespecies):
    """Train 12/4/6 against test 3/3/3 is a species drift far over 0.05: with drift set to
    fail, the ValidationGate stops the run before Transform. One message block, exit 1; the
    traceback only with -v."""
    args = ["run", "--data-root", dataset / "data", "--output-dir", dataset / "drift",
            "--schema", "infer", "--on-drift", "fail", "--max-species-drift", "0.05", *FLAGS]
    done = rarespecies(*args)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "the data failed validation" in done.stderr and "drift" in done.stderr
    assert re.search(r"\[\d+/11\] ValidationGate ", done.stdout)
    assert not any("Transform ... done" in line for line in done.stdout.splitlines())
    verbose = rarespecies(*args, "-v")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
