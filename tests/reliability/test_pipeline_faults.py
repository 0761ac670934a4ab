"""Real pipeline runs through the `rarespecies run` command (a subprocess, as a user runs it):

* bad data (a species only in test, a train image copied into test, an empty species folder,
  broken files): the run exits 1 with the validation gate's message, before Transform;
* awkward but usable files (CMYK, 16-bit, animated, TIFF, a 12000x12000 JPEG, ...): the run
  is killed with SIGKILL during the Trainer, run again, and completes: upstream outputs come from
  the cache, and the Evaluator and Pusher use the new Trainer's model, never the killed one's;
* determinism: the Trainer run again in-process on the same Transform output, with the same
  seed, gives the same evaluation figures.
Beam runs in memory (one process), as in tests/e2e/test_pipeline_e2e.py.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from pipeline.data import demo_data
from pipeline.reports import mlmd
from pipeline.configs import REPO_ROOT, make_config
from tests.support import bad_files
from tests.support.cli import rarespecies_command, run_rarespecies

pytestmark = pytest.mark.slow

SPECIES = ["Sora", "House Finch", "Robin", "Araripe Manakin"]
TRAIN = {"Sora": 12, "House Finch": 8, "Robin": 4, "Araripe Manakin": 2}
TEST = {s: 3 for s in SPECIES}
FLAGS = ["--image-size", "32", "--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-3",
         "--min-accuracy", "0", "--seed", "7", "--weights", "none",
         "--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1",
         f"--beam-arg=--setup_file={os.path.join(REPO_ROOT, 'setup.py')}"]


def cli_run(data, out, *extra, timeout=600):
    return run_rarespecies("run", "--data-root", data, "--output-dir", out, *FLAGS, *extra,
                           timeout=timeout)


def config_for(data, out):
    return make_config(dict(data_root=str(data), output_dir=str(out)))


# -- ML Metadata ------------------------------------------------------------------------------
def store_of(config):
    return mlmd.open_store(config.metadata_path)


def executions(store, component):
    """Executions of one component (by the node id at the end of the type name), oldest first."""
    found = []
    for execution_type in store.get_execution_types():
        if execution_type.name.split(".")[-1] == component:
            found += store.get_executions_by_type(execution_type.name)
    return sorted(found, key=lambda e: e.id)


def states(store, component):
    from ml_metadata.proto import metadata_store_pb2
    return [metadata_store_pb2.Execution.State.Name(e.last_known_state)
            for e in executions(store, component)]


def artifacts_of(store, execution, event_types):
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type in event_types]
    return store.get_artifacts_by_id([e.artifact_id for e in events])


def inputs_of(store, execution):
    from ml_metadata.proto import metadata_store_pb2
    return artifacts_of(store, execution, {metadata_store_pb2.Event.INPUT})


def outputs_of(store, execution):
    from ml_metadata.proto import metadata_store_pb2
    return artifacts_of(store, execution, {metadata_store_pb2.Event.OUTPUT,
                                           metadata_store_pb2.Event.PENDING_OUTPUT})


def type_name(store, artifact):
    return store.get_artifact_types_by_id([artifact.type_id])[0].name


# -- 1. bad data: the gate stops the run, and the command says why --------------------------
@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_data")
    data = tmp / "data"
    demo_data.generate(data, seed=11, image_size=24, species=SPECIES[:3],
                       train_counts={s: TRAIN[s] for s in SPECIES[:3]},
                       test_counts={s: 3 for s in SPECIES[:3]}, workers=1)
    os.makedirs(data / "test" / "Quetzal")  # in the schema, but only in test
    for i in range(2):
        (data / "test" / "Quetzal" / f"q{i}.jpg").write_bytes(bad_files.rgb_jpeg(seed=50 + i))
    first_sora = sorted(os.listdir(data / "train" / "Sora"))[0]
    shutil.copy(data / "train" / "Sora" / first_sora, data / "test" / "Sora" / "leaked.jpg")
    os.makedirs(data / "train" / "Crow")  # an empty species folder
    (data / "train" / "Robin" / "zero.jpg").write_bytes(b"")
    (data / "train" / "Robin" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    started = time.monotonic()
    done = cli_run(data, tmp / "out")
    return dict(done=done, config=config_for(data, tmp / "out"), leaked=first_sora,
                seconds=time.monotonic() - started)


def test_bad_data_run_exits_1_with_the_gates_message(bad_run):
    done = bad_run["done"]
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-4000:]
    error = done.stderr[done.stderr.index("error: pipeline 'rarespecies' failed"):]
    assert "the data failed validation" in error
    assert "species in 'eval' but not in 'train' (the model cannot learn them): Quetzal" in error
    assert re.search(r"train/test leakage: the same image \(sha256 [0-9a-f]{12}\.\.\.\) is in "
                     r"splits 'eval', 'train': test/Sora/leaked\.jpg, train/Sora/"
                     + re.escape(bad_run["leaked"]), error), error
    assert "--on-leakage warn" in error
    # Reported, not fatal: the empty folder and the drift of the species shares.
    assert "species folder train/Crow/ is empty" in done.stderr
    assert "species distribution drift (eval against train)" in done.stderr


def test_bad_data_run_stops_before_transform_and_accounts_for_every_file(bad_run):
    config = bad_run["config"]
    store = store_of(config)
    assert states(store, "ValidationGate") == ["FAILED"]
    assert states(store, "Transform") == [] and states(store, "Trainer") == []
    report = mlmd.run_outputs(config.metadata_path, config.pipeline_name)["ingest_report"]
    with open(os.path.join(report, "summary.json")) as handle:
        ingest = json.load(handle)
    on_disk = sum(len(files) for split in ("train", "test")
                  for _, _, files in os.walk(os.path.join(config.data_root, split)))
    assert ingest["files_read"] == on_disk
    assert ingest["files_read"] == ingest["examples_written"] + ingest["files_rejected"]
    assert ingest["files_rejected"] == 2
    print(f"\nbad-data run: {bad_run['seconds']:.0f} s, files read {ingest['files_read']}, "
          f"written {ingest['examples_written']}, rejected {ingest['files_rejected']}, lost "
          f"{ingest['files_read'] - ingest['examples_written'] - ingest['files_rejected']}")


# -- 2. killed during training, run again ----------------------------------------------------
def run_and_kill_in_trainer(data, out, timeout=480):
    """Starts `rarespecies run`; SIGKILLs its process group once the Trainer's first epoch
    line is printed (of 2: the Trainer is inside model.fit). Returns the output up to the kill."""
    proc = subprocess.Popen(rarespecies_command() + ["run", "--data-root", str(data),
                                                     "--output-dir", str(out), *FLAGS],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines, killed = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("epoch 1/") and not killed.is_set():
                killed.set()
                os.killpg(proc.pid, signal.SIGKILL)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(10)
    assert killed.is_set(), "the run ended before training started:\n" + "".join(lines)[-4000:]
    assert proc.returncode == -signal.SIGKILL
    return "".join(lines)


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("killed")
    data, out = tmp / "data", tmp / "out"
    demo_data.generate(data, seed=13, image_size=24, species=SPECIES, train_counts=TRAIN,
                       test_counts=TEST, workers=1)
    expected = {}
    for name, (make, outcome) in bad_files.CASES.items():
        path = data / "train" / "Robin" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
        expected[f"train/Robin/{name}"] = outcome
    config = config_for(data, out)

    started = time.monotonic()
    run_and_kill_in_trainer(data, out)
    killed_seconds = time.monotonic() - started
    store = store_of(config)
    killed_trainer = executions(store, "Trainer")[-1]
    killed_outputs = outputs_of(store, killed_trainer)
    before = {c: states(store, c) for c in ("ImageExampleGen", "Transform", "Trainer",
                                            "Evaluator", "Pusher")}
    del store

    started = time.monotonic()
    done = cli_run(data, out)
    return dict(config=config, done=done, killed_trainer=killed_trainer,
                killed_outputs=killed_outputs, before=before, expected=expected,
                seconds=(killed_seconds, time.monotonic() - started))


def test_killed_run_left_the_trainer_unfinished(killed_and_rerun):
    before = killed_and_rerun["before"]
    assert before["ImageExampleGen"] == ["COMPLETE"] and before["Transform"] == ["COMPLETE"]
    assert before["Trainer"] == ["RUNNING"]
    assert before["Evaluator"] == [] and before["Pusher"] == []


def test_rerun_completes_from_the_cache_with_a_new_trainer(killed_and_rerun):
    done, config = killed_and_rerun["done"], killed_and_rerun["config"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    store = store_of(config)
    for component in ("ImageExampleGen", "StatisticsGen", "ExampleValidator",
                      "DistributionValidator", "ValidationGate", "Transform"):
        assert states(store, component) == ["COMPLETE", "CACHED"], component
    assert states(store, "Trainer") == ["RUNNING", "COMPLETE"]
    assert states(store, "Evaluator") == ["COMPLETE"]
    assert states(store, "Pusher") == ["COMPLETE"]
    print(f"\nkilled run {killed_and_rerun['seconds'][0]:.0f} s, rerun "
          f"{killed_and_rerun['seconds'][1]:.0f} s")


def test_evaluator_and_pusher_use_the_new_model_never_the_killed_one(killed_and_rerun):
    from ml_metadata.proto import metadata_store_pb2
    store = store_of(killed_and_rerun["config"])
    killed, new = executions(store, "Trainer")
    assert killed.id == killed_and_rerun["killed_trainer"].id
    new_model = [a for a in outputs_of(store, new) if type_name(store, a) == "Model"]
    killed_models = [a for a in outputs_of(store, killed) if type_name(store, a) == "Model"]
    assert len(new_model) == 1 and new_model[0].state == metadata_store_pb2.Artifact.LIVE
    # The killed Trainer's model, if registered at all, never became LIVE.
    assert all(a.state != metadata_store_pb2.Artifact.LIVE for a in killed_models)
    for component in ("Evaluator", "Pusher"):
        (execution,) = executions(store, component)
        models = [a for a in inputs_of(store, execution) if type_name(store, a) == "Model"]
        # The Evaluator also gets the latest blessed model as baseline: none before this run.
        assert [m.id for m in models] == [new_model[0].id], component
        assert all(m.uri not in {a.uri for a in killed_models} for m in models)
    assert os.path.isfile(os.path.join(new_model[0].uri, "Format-Serving", "saved_model.pb"))


def test_awkward_files_went_through_transform_and_training(killed_and_rerun):
    config = killed_and_rerun["config"]
    outputs = mlmd.run_outputs(config.metadata_path, config.pipeline_name)
    with open(os.path.join(outputs["ingest_report"], "summary.json")) as handle:
        ingest = json.load(handle)
    written = sum(o == "written" for o, _ in killed_and_rerun["expected"].values())
    rejected = len(killed_and_rerun["expected"]) - written
    demo = sum(TRAIN.values()) + sum(TEST.values())
    assert ingest["files_read"] == demo + len(bad_files.CASES)
    assert ingest["examples_written"] == demo + written
    assert ingest["files_rejected"] == rejected
    assert ingest["files_reencoded"] == 2
    # Robin's train folder less the share held out for validation (no valid/ folder here)
    robin = ingest["counts"]["train"]["Robin"], ingest["counts"]["valid"]["Robin"]
    assert sum(robin) == TRAIN["Robin"] + written and robin[1] >= 1
    assert outputs["pushed"]
    print(f"\nawkward-files run: files read {ingest['files_read']}, written "
          f"{ingest['examples_written']}, rejected {ingest['files_rejected']} "
          f"{ingest['rejected_by_reason']}, re-encoded {ingest['files_reencoded']}, lost "
          f"{ingest['files_read'] - ingest['examples_written'] - ingest['files_rejected']}")


# -- 3. determinism ----------------------------------------------------------------------------
def test_same_seed_and_data_give_the_same_model_and_figures(killed_and_rerun, tmp_path):
    """The Trainer again, in this process, on the rerun's own inputs and properties (from ML
    Metadata): every weight of the exported model is bit-for-bit the pipeline model's on CPU,
    so every evaluation figure is the same. No tf.config.experimental.enable_op_determinism()
    is needed for this on CPU (docs/reliability.md)."""
    import tensorflow as tf
    from tfx.components.trainer import executor as trainer_executor
    from tfx.types import standard_artifacts
    from tfx.types.artifact_utils import deserialize_artifact
    config = killed_and_rerun["config"]
    store = store_of(config)
    trainer = executions(store, "Trainer")[-1]
    input_dict = {}
    for event in store.get_events_by_execution_ids([trainer.id]):
        if event.type != event.INPUT:
            continue
        (artifact,) = store.get_artifacts_by_id([event.artifact_id])
        (artifact_type,) = store.get_artifact_types_by_id([artifact.type_id])
        key = event.path.steps[0].key
        input_dict.setdefault(key, []).append(deserialize_artifact(artifact_type, artifact))
    exec_properties = {name: getattr(value, value.WhichOneof("value"))
                       for name, value in trainer.custom_properties.items()
                       if name in ("custom_config", "train_args", "eval_args", "run_fn")}
    assert json.loads(exec_properties["custom_config"])["seed"] == 7
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(tmp_path / "model"), str(tmp_path / "model_run")
    trainer_executor.GenericExecutor().Do(input_dict, {"model": [model],
                                                       "model_run": [model_run]},
                                          exec_properties)
    (pipeline_model,) = [a for a in outputs_of(store, trainer) if type_name(store, a) == "Model"]
    ours, theirs = (tf.train.load_checkpoint(os.path.join(uri, "Format-Serving", "variables",
                                                          "variables"))
                    for uri in (model.uri, pipeline_model.uri))
    names = sorted(ours.get_variable_to_shape_map())
    assert names == sorted(theirs.get_variable_to_shape_map())
    compared = 0
    for name in names:
        a, b = np.asarray(ours.get_tensor(name)), np.asarray(theirs.get_tensor(name))
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b, err_msg=name)
            compared += 1
    assert compared > 100  # MobileNetV2 and the head, not just a counter
    print(f"\ndeterminism: {compared} float tensors of the retrained model are bit-for-bit "
          f"the pipeline's")
