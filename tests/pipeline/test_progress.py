"""pipeline/cli/progress.py: the line per component, the Trainer's epoch lines under it, and our
own warnings on a line of their own."""
import io
import logging

from pipeline.cli.progress import PROGRESS_LOGGER, pipeline_progress

TFX = logging.getLogger("absl")


def test_a_line_per_component_with_epochs_and_warnings_on_their_own_lines():
    out = io.StringIO()
    with pipeline_progress(["ImageExampleGen", "ValidationGate", "Trainer"], out):
        TFX.info("Component %s is running.", "ImageExampleGen")
        TFX.info("Component %s is finished.", "ImageExampleGen")
        TFX.info("Component %s is running.", "ValidationGate")
        logging.getLogger("components.validation_gate.component").warning("drift")
        TFX.info("Component %s is finished.", "ValidationGate")
        TFX.info("Component %s is running.", "Trainer")
        TFX.info("A cached execution %d is used.", 3)
        TFX.info("Component %s is finished.", "Trainer")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/3] ImageExampleGen ... done in ")
    assert lines[1] == "[2/3] ValidationGate ..."  # ended before the warning is printed
    assert lines[2].startswith("[2/3] ValidationGate done in ")
    assert lines[3] == "[3/3] Trainer ... cached"


def test_epoch_lines_go_under_the_trainers_line(caplog):
    caplog.set_level(logging.INFO)  # as quiet_log sets it for a run
    out = io.StringIO()
    with pipeline_progress(["Trainer"], out):
        TFX.info("Component %s is running.", "Trainer")
        logging.getLogger(PROGRESS_LOGGER).info("epoch 1/2  accuracy 0.5")
        TFX.info("Component %s is finished.", "Trainer")
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["[1/1] Trainer ...", "    epoch 1/2  accuracy 0.5"]
    assert lines[2].startswith("[1/1] Trainer done in ")
