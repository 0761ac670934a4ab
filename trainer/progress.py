"""The Trainer's progress as log records: one INFO record per epoch on the logger
`rarespecies.progress`, which the command line shows under the Trainer's line and which a
Kubeflow pod's log keeps. No TensorFlow here (the command line imports the logger's name)."""
import logging
from typing import Dict

LOGGER_NAME = "rarespecies.progress"
log = logging.getLogger(LOGGER_NAME)


def epoch_line(epoch: int, epochs: int, logs: Dict[str, float], seconds: float,
               stage: str = "") -> str:
    """`epoch 3/15  loss 2.310  accuracy 0.212  val_... (9.8 s)`; epoch counts from 1."""
    values = "  ".join(f"{name} {value:.3f}" for name, value in sorted(logs.items())
                       if isinstance(value, (int, float)))
    prefix = f"{stage} " if stage else ""
    return f"{prefix}epoch {epoch}/{epochs}  {values}  ({seconds:.1f} s)"
