"""The pipeline definition, for the local run and Kubeflow alike: `create_pipeline()`, and beside
it `create_sweep_pipeline()`, the Table II experiment on the same components.

ingest -> statistics -> schema -> validate (gate) -> transform -> train -> evaluate -> push
"""
from typing import Dict, List, Optional, Sequence, Tuple

from tfx import v1 as tfx
from tfx.components import DistributionValidator
from tfx.proto import distribution_validator_pb2

from components.image_example_gen.component import ImageExampleGen
from components.validation_gate.component import ValidationGate
from pipeline.configs import PipelineConfig
from pipeline.evaluation import make_eval_config
from schema.features import LABEL_KEY, TRAIN, VALID
from trainer.hparams import TrainerConfig

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
TRAINER_ID = "Trainer"


def species_drift_config(threshold: float):
    config = distribution_validator_pb2.DistributionValidatorConfig()
    feature = config.default_slice_config.feature.add()
    feature.path.step.append(LABEL_KEY)
    feature.distribution_comparator.infinity_norm.threshold = threshold
    return config


def create_upstream(config: PipelineConfig, input_fingerprint: Optional[str] = None) -> Dict:
    """ingest, schema -> statistics -> validate -> transform, by name; shared by the run and
    the sweep, which trains several models on one Transform output."""
    example_gen = ImageExampleGen(input_base=config.data_root, csv_index=config.csv_index,
                                  input_fingerprint=input_fingerprint,
                                  valid_share=config.valid_share, split_seed=config.split_seed)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=config.schema_path)
    # With the schema, TFDV takes the image (image_domain) as bytes: without it the image is a
    # string feature whose every distinct value TFDV counts, which holds the whole dataset's
    # images in memory.
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"],
                                                  schema=schema_gen.outputs["schema"])
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    # Drift of the species distribution, eval against train (L-infinity over the species'
    # shares); the gate warns or fails on it as config.on_drift says.
    drift_validator = DistributionValidator(
        statistics=statistics_gen.outputs["statistics"],
        baseline_statistics=statistics_gen.outputs["statistics"],
        include_split_pairs=[("eval", "train")],
        config=species_drift_config(config.max_species_drift)).with_id("species_drift")
    validation_gate = ValidationGate(anomalies=example_validator.outputs["anomalies"],
                                     ingest_report=example_gen.outputs["ingest_report"],
                                     drift_anomalies=drift_validator.outputs["anomalies"],
                                     on_leakage=config.on_leakage, on_drift=config.on_drift)

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=config.transform_config(),
        # Only what the Trainer reads: the Evaluator scores the test split's raw examples
        # through the serving graph, which decodes them itself.
        splits_config=tfx.proto.SplitsConfig(analyze=[TRAIN], transform=[TRAIN, VALID]),
        # Statistics of image tensors are costly and say little; TFDV already ran above.
        disable_statistics=True)
    transform.add_upstream_node(validation_gate)  # no training on data that failed validation
    return dict(example_gen=example_gen, schema_gen=schema_gen, statistics_gen=statistics_gen,
                example_validator=example_validator, drift_validator=drift_validator,
                validation_gate=validation_gate, transform=transform)


def create_trainer(upstream: Dict, trainer_config: TrainerConfig, base_model=None,
                   trainer_job: Optional[Dict] = None):
    """`base_model`: the latest blessed model, for --warm-start. `trainer_job`: train on
    several machines, a Vertex AI custom job (pipeline/vertex_training.py)."""
    transform = upstream["transform"]
    component = tfx.components.Trainer
    custom_config = trainer_config.to_custom_config()
    if trainer_job:
        component = tfx.extensions.google_cloud_ai_platform.Trainer
        custom_config = {**custom_config, **trainer_job}
    return component(
        run_fn=RUN_FN, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=upstream["schema_gen"].outputs["schema"], base_model=base_model,
        # Validation (best epoch, fitted parameters) on the valid split; the test split (eval)
        # is the Evaluator's alone, so no training choice sees it.
        train_args=tfx.proto.TrainArgs(splits=[TRAIN]),
        eval_args=tfx.proto.EvalArgs(splits=[VALID]),
        custom_config=custom_config)


def create_evaluator(config: PipelineConfig, upstream: Dict, trainer, baseline_model=None):
    return tfx.components.Evaluator(
        examples=upstream["example_gen"].outputs["examples"], model=trainer.outputs["model"],
        baseline_model=baseline_model,
        eval_config=make_eval_config(config.min_accuracy, config.max_rare_accuracy_drop,
                                     config.max_macro_f1_drop, config.rare_group))


def create_components(config: PipelineConfig, input_fingerprint: Optional[str] = None,
                      trainer_job: Optional[Dict] = None) -> List:
    upstream = create_upstream(config, input_fingerprint)
    # The latest blessed model: the Evaluator's baseline, and the Trainer's start with
    # --warm-start.
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    trainer = create_trainer(upstream, config.trainer, baseline_resolver.outputs["model"]
                             if config.trainer.warm_start else None, trainer_job)

    evaluator = create_evaluator(config, upstream, trainer, baseline_resolver.outputs["model"])

    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=config.serving_model_dir)))

    return [*upstream.values(), trainer, baseline_resolver, evaluator, pusher]


def _pipeline(config: PipelineConfig, components: List,
              metadata_connection_config=None) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_args)


def create_pipeline(config: PipelineConfig, metadata_connection_config=None,
                    input_fingerprint: Optional[str] = None,
                    trainer_job: Optional[Dict] = None) -> tfx.dsl.Pipeline:
    """The pipeline. `trainer_job`: the Trainer on several machines (Kubeflow only)."""
    return _pipeline(config, create_components(config, input_fingerprint, trainer_job),
                     metadata_connection_config)


def create_sweep_pipeline(config: PipelineConfig, metadata_connection_config=None,
                          input_fingerprint: Optional[str] = None, *,
                          trainers: Sequence[Tuple[str, TrainerConfig]]) -> tfx.dsl.Pipeline:
    """The upstream once, then a Trainer and an Evaluator per (id suffix, trainer config) of
    `trainers` (pipeline/sweep.py makes them: a loss configuration and a seed each). Nothing is
    pushed and no baseline is resolved: a sweep compares models, `run` ships one."""
    upstream = create_upstream(config, input_fingerprint)
    components = list(upstream.values())
    for suffix, trainer_config in trainers:
        trainer = create_trainer(upstream, trainer_config).with_id(f"{TRAINER_ID}.{suffix}")
        evaluator = create_evaluator(config, upstream, trainer).with_id(f"Evaluator.{suffix}")
        components += [trainer, evaluator]
    return _pipeline(config, components, metadata_connection_config)
