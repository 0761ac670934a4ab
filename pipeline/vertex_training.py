"""The Trainer step on several machines: `rarespecies compile --trainer-workers N`.

A Kubeflow step is one pod, so a Trainer that trains on N machines runs as a Vertex AI custom
job: TFX's Vertex AI Trainer extension (tfx.extensions.google_cloud_ai_platform.Trainer) starts
the job from the pipeline step and waits for it. The job has two worker pools in the pipeline
image: the chief (1 replica) and N - 1 workers. Vertex AI sets TF_CONFIG on each replica, every
replica runs the same run_fn, and trainer/distribute.py trains with MultiWorkerMirroredStrategy;
the chief exports the model to the step's output, as a one-machine Trainer would.
"""
from typing import Any, Dict, Optional

# TFX's Vertex AI extension reads these keys of the Trainer's custom_config (tfx.extensions.
# google_cloud_ai_platform); it also hands them to run_fn, whose TrainerConfig skips them.
ENABLE_VERTEX_KEY = "ai_platform_enable_vertex"
VERTEX_REGION_KEY = "ai_platform_vertex_region"
TRAINING_ARGS_KEY = "ai_platform_training_args"
DEFAULT_MACHINE_TYPE = "n1-standard-8"


def worker_pool_specs(workers: int, image: str, machine_type: str = DEFAULT_MACHINE_TYPE,
                      gpus: int = 0, gpu_type: Optional[str] = None) -> list:
    """Vertex AI's CustomJobSpec.worker_pool_specs: the chief, then workers - 1 workers, each
    on `machine_type` with `gpus` accelerators of `gpu_type` (Vertex AI's names)."""
    if workers < 2:
        raise ValueError(f"a multi-worker Trainer needs 2 or more workers, not {workers}")
    machine: Dict[str, Any] = {"machine_type": machine_type}
    if gpus:
        machine.update(accelerator_type=gpu_type, accelerator_count=gpus)
    pool = {"machine_spec": machine, "container_spec": {"image_uri": image}}
    return [dict(pool, replica_count=1), dict(pool, replica_count=workers - 1)]


def trainer_job(workers: int, project: str, region: str, image: str,
                machine_type: str = DEFAULT_MACHINE_TYPE, gpus: int = 0,
                gpu_type: Optional[str] = None) -> Dict[str, Any]:
    """The keys that make TFX's Vertex AI Trainer run a custom job of `workers` machines."""
    return {
        ENABLE_VERTEX_KEY: True,
        VERTEX_REGION_KEY: region,
        TRAINING_ARGS_KEY: {"project": project, "worker_pool_specs": worker_pool_specs(
            workers, image, machine_type, gpus, gpu_type)},
    }
