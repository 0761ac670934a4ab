"""The Trainer's recipe on a folder data set, without the rest of the pipeline: for comparing
settings over seeds in minutes rather than through a sweep.

The images (train/, test/, and valid/ when there is one) are decoded and resized as Transform
does and held in memory. Training and the validation choices are the Trainer's own code:
trainer/task.py's fit_stages (sampling, deferred re-sampling), trainer/stages.py's callbacks
(weight averaging, best epoch) and choose_on_validation (cRT, post-hoc tau, prototype weight);
the test split is then scored as the exported model scores (and --augmentation auto is
decided as the Trainer decides it). Without a valid/ folder, a share of
train is held out with the pipeline's count per species (the images drawn here, seeded).
Test figures are printed beside validation's, to be read after a choice, never to make one.
A dev/ folder, where the data root has one (digits_lt.py --dev-per-digit), is scored too: images
in neither split, on which a setting of the recipe itself may be chosen. For the demo data, a
copy drawn with another seed (`rarespecies demo-data --out out/data/demo_dev --seed 1`: the same
species, other images) serves as a dev set: its test split is read, never the demo's own.

    python benchmarks/recipe_probe.py --data-root out/data/digits_lt --image-size 32 \\
        --epochs 20 --learning-rate 1e-3 --seeds 0 1 2 --set sampling=natural
    python benchmarks/recipe_probe.py --data-root out/data/demo --image-size 32 --epochs 10

`--set NAME=VALUE` (repeatable) overrides any TrainerConfig setting over the recipe's.
Random initial weights only (--weights none). About 1-3 min a seed at 32 px on 2 cores.
"""
import argparse
import dataclasses
import json
import os
import typing

import numpy as np
import tensorflow as tf

import common  # noqa: F401  (puts the repository on sys.path)
from components.image_example_gen.listing import held_out_count
from schema.features import bottom, frequency_groups
from trainer import data, losses, posthoc, stages, task
from trainer.hparams import RECIPES, TrainerConfig
from trainer.model import build_model
from trainer.optimization import make_optimizer
from trainer.preprocessing import decode_and_resize_uint8


def read_folders(root: str, image_size: int):
    """{split: (uint8 pixels [n, size, size, 3], label ids)} and the species (train/'s folders)."""
    species = sorted(os.listdir(os.path.join(root, "train")))
    splits = {}
    for split in ("train", "valid", "test", "dev"):
        if not os.path.isdir(os.path.join(root, split)):
            continue
        paths, ids = [], []
        for c, name in enumerate(species):
            folder = os.path.join(root, split, name)
            names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
            paths += [os.path.join(folder, f) for f in names]
            ids += [c] * len(names)
        raw = tf.stack([tf.io.read_file(p) for p in paths])
        splits[split] = (decode_and_resize_uint8(raw, image_size).numpy(), np.asarray(ids))
    return splits, species


def hold_out(pixels, ids, share: float, seed: int, num_classes: int):
    """(train, valid): each species loses held_out_count of its images, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(ids), bool)
    for c in range(num_classes):
        members = np.flatnonzero(ids == c)
        held[rng.permutation(members)[:held_out_count(len(members), share)]] = True
    return (pixels[~held], ids[~held]), (pixels[held], ids[held])


def group_scores(predicted, ids, species, folder_counts) -> dict:
    """Accuracy, macro-F1 and the mean recall of the Evaluator's groups, which are made from
    the train folder's counts (before any hold-out), as ingestion makes them."""
    right = predicted == ids
    recall = dict(zip(species, (right[ids == c].mean() for c in range(len(species)))))
    groups = frequency_groups(dict(zip(species, folder_counts)))

    def group_recall(group):
        members = [s for s in species if group in groups[s]]
        return 100 * np.mean([recall[s] for s in members]) if members else float("nan")
    return {"accuracy": 100 * right.mean(), "bottom_5": group_recall(bottom(5)),
            "bottom_2": group_recall(bottom(2)), "few": group_recall("few"),
            "macro_f1": posthoc.macro_f1(ids, predicted, len(species))}


def run(config: TrainerConfig, splits: dict, species: list, valid_share: float) -> dict:
    tf.keras.utils.set_random_seed(config.seed)
    num_classes = len(species)
    folder_counts = np.bincount(splits["train"][1], minlength=num_classes)
    train, valid = splits["train"], splits.get("valid")
    if valid is None:
        train, valid = hold_out(*train, valid_share, 1000 + config.seed, num_classes)
    counts = np.bincount(train[1], minlength=num_classes).tolist()
    as_dataset = lambda split: tf.data.Dataset.from_tensor_slices(  # noqa: E731
        (split[0], split[1].astype(np.int64)))
    config, _ = task.resolve_sampling(config, counts)
    steps = data.steps_per_epoch(counts, config.batch_size, config.species_quota,
                                 config.sampling)
    config, augmentation = task.resolve_augmentation(config, as_dataset(train),
                                                     as_dataset(valid), num_classes)
    model = build_model(num_classes, config.image_size, width=config.width, weights="none")
    model.compile(optimizer=make_optimizer(config, steps),
                  loss=losses.make_loss(config.loss, class_counts=counts, alpha=config.alpha,
                                        gamma=config.gamma, beta=config.beta, tau=config.tau))
    best = stages.BestEpoch(data.pixel_batches(as_dataset(valid)), valid[1], num_classes,
                            config.restore_best)
    average = stages.WeightAverage.over_last(config.average_last, config.epochs)
    task.fit_stages(model, config, as_dataset(train), counts,
                    data.CacheBudget(config.cache_gib, config.image_size), steps,
                    [best] + ([average] if average else []))
    best.finish(average)
    report = task.choose_on_validation(model, config, counts, as_dataset(train),
                                       as_dataset(valid), valid[1])
    result = {"seed": config.seed, "augmentation": augmentation or config.augmentation,
              "sampling": config.sampling,
              "weights_kept": best.kept, "classifier": report["classifier"],
              "posthoc_tau": report["posthoc_tau"], "prototype_weight": report["prototype_weight"],
              "validation_macro_f1": report["validation_f1"]}
    for split in ("test", "dev"):
        if split in splits:
            result[split] = group_scores(exported_predictions(model, report, counts,
                                                              as_dataset(splits[split])),
                                         splits[split][1], species, folder_counts)
    return result


def exported_predictions(model, report: dict, counts, examples) -> np.ndarray:
    """The species ids the exported model would answer (trainer/export.py's scores)."""
    embeddings = stages.embedding_model(model).predict(data.pixel_batches(examples), verbose=0)
    prototypes = report["_prototypes"]
    scores = posthoc.adjusted_log_scores(
        stages.classify_embeddings(model, embeddings), counts, report["posthoc_tau"],
        None if prototypes is None else posthoc.prototype_log_probs(embeddings, prototypes),
        report["prototype_weight"])
    return scores.argmax(axis=1)


def parse_settings(pairs) -> dict:
    """NAME=VALUE pairs -> TrainerConfig values of the fields' types."""
    types = typing.get_type_hints(TrainerConfig)
    values = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in types:
            raise SystemExit(f"--set {pair}: no TrainerConfig setting {name!r}")
        kind = types[name]
        values[name] = (text.lower() in ("1", "true", "yes")) if kind is bool else kind(text)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--recipe", default="longtail", choices=tuple(RECIPES))
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--valid-share", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    splits, species = read_folders(args.data_root, args.image_size)
    values = dict(RECIPES[args.recipe], recipe=args.recipe, image_size=args.image_size,
                  epochs=args.epochs, learning_rate=args.learning_rate, weights="none")
    values.update(parse_settings(args.set))
    runs = []
    for seed in args.seeds:
        config = TrainerConfig(**dict(values, seed=seed))
        runs.append(run(config, splits, species, args.valid_share))
        print(json.dumps(runs[-1], default=float), flush=True)
    changed = {k: v for k, v in dataclasses.asdict(config).items()
               if v != getattr(TrainerConfig(), k) and k != "seed"}
    print(f"{args.data_root}, {changed}, {len(runs)} seeds (mean ± sd):")

    def cell(values, digits=2):
        values = np.asarray(values, float)
        spread = values.std(ddof=1) if len(values) > 1 else 0.0
        return f"{values.mean():.{digits}f} ± {spread:.{digits}f}"
    for split in ("dev", "test"):
        if split in runs[0]:
            print(f"  {split}: " + ", ".join(
                f"{key} {cell([r[split][key] for r in runs], 3 if key == 'macro_f1' else 2)}"
                for key in ("accuracy", "bottom_5", "few", "bottom_2", "macro_f1")))
    print("  validation macro-F1 (what chose): "
          f"{cell([r['validation_macro_f1'] for r in runs], 3)}")


if __name__ == "__main__":
    main()
