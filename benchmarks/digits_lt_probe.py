"""A quick probe of training choices on real long-tailed data, outside the pipeline: the model
the Trainer builds (trainer/model.py), its augmentation, class-balanced or natural sampling,
Adam at a constant rate, on digits-LT (digits_lt.py: 140 train images for the commonest digit
down to 2, 30 test images a digit) at 32 px from random weights, 20 epochs of its 370 train
images each.

The choice is read on a **dev split of its own**: up to 15 scans a digit that are in neither
the train nor the test split of digits_lt.py's cut (scikit-learn has about 180 a digit), so
nothing is chosen on test. The Trainer's callbacks (trainer/stages.py) pick the weights kept:
the best epoch on a validation split (--restore-best), or the mean of the last epochs' weights
(--average-last). That validation split is the dev split itself (the best epoch's dev figures
are then optimistic), or with --valid-share a share of train held out as the pipeline does,
when dev only scores. Test figures are printed beside, to be read after the choice.

    python benchmarks/digits_lt_probe.py --seeds 0 1 2                      # the model as build_model makes it
    python benchmarks/digits_lt_probe.py --seeds 0 1 2 --no-zero-init       # residual blocks as Keras makes them
    python benchmarks/digits_lt_probe.py --seeds 0 1 2 --sampling natural
    python benchmarks/digits_lt_probe.py --seeds 0 1 2 --batch-size 32    # the paper's batch
    python benchmarks/digits_lt_probe.py --seeds 0 1 2 --keras-stem       # stride 2 at 32 px too
    python benchmarks/digits_lt_probe.py --seeds 0 1 2 --valid-share 0.1  # best epoch on a carve
    python benchmarks/digits_lt_probe.py --seeds 0 1 2 --valid-share 0.1 --average-last 0.25

About 40-90 s a seed on 2 cores.
"""
import argparse
import json

import numpy as np
import tensorflow as tf

import common  # noqa: F401  (puts the repository on sys.path)
import digits_lt
from components.image_example_gen.listing import held_out_count
from trainer import model as model_lib
from trainer import stages
from trainer.augmentation import augment_dataset
from trainer.hparams import RECIPES
from trainer.posthoc import macro_f1
from trainer.sampling import class_weights, sampled

SIZE, DEV_PER_DIGIT, CLASSES = 32, 15, len(digits_lt.NAMES)


def splits(seed: int = 0) -> dict:
    """train/test exactly as digits_lt.write(seed) cuts them, and dev from the scans left over;
    pixels upscaled (nearest) to SIZE, grey as RGB, in [0, 1]."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    out = {name: ([], []) for name in ("train", "dev", "test")}
    for c, chosen in enumerate(digits_lt.cut(digits.target, seed, DEV_PER_DIGIT)):
        for name, members in chosen.items():
            for i in members:
                grey = np.kron(digits.images[i] / 16.0, np.ones((SIZE // 8, SIZE // 8)))
                out[name][0].append(np.repeat(grey[..., None], 3, axis=-1))
                out[name][1].append(c)
    return {name: (np.asarray(x, np.float32), np.asarray(y)) for name, (x, y) in out.items()}


def scores(model, pixels, labels, rarest) -> dict:
    predicted = model.predict(pixels, batch_size=256, verbose=0).argmax(axis=1)
    right = predicted == labels
    return {"accuracy": 100 * right.mean(),
            "bottom_5": 100 * np.mean([right[labels == c].mean() for c in rarest]),
            "macro_f1": macro_f1(labels, predicted, CLASSES)}


def hold_out(x: np.ndarray, y: np.ndarray, share: float, seed: int):
    """A validation split as the pipeline carves one without a valid/ folder (its count per
    digit; the scans drawn at random here). -> (train, valid)."""
    rng = np.random.default_rng(1000 + seed)
    held = np.zeros(len(y), bool)
    for c in range(CLASSES):
        members = np.flatnonzero(y == c)
        held[rng.permutation(members)[:held_out_count(len(members), share)]] = True
    return (x[~held], y[~held]), (x[held], y[held])


def train(data: dict, seed: int, sampling: str, zero_init: bool, epochs: int,
          batch_size: int = 32, learning_rate: float = 1e-3, valid_share: float = 0.0,
          average_last: float = 0.0) -> dict:
    """Trains as the Trainer does and keeps, as it does, the mean of the last `average_last`
    share of the epochs' weights, or (0) the epoch with the best validation macro-F1. The
    validation split is a held-out `valid_share` of train (the pipeline's), or without one the
    dev split itself (then the dev figures of the best epoch are optimistic)."""
    tf.keras.utils.set_random_seed(seed)
    (x, y), valid = hold_out(*data["train"], valid_share, seed) if valid_share else (
        data["train"], data["dev"])
    counts = np.bincount(y, minlength=CLASSES)
    rarest = np.argsort(counts, kind="stable")[:5]
    model = model_lib.build_model(CLASSES, SIZE, weights="none")
    if not zero_init:  # undo it: every BatchNorm scale back to Keras' initial 1
        for layer in model.layers[1].layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                layer.gamma.assign(tf.ones_like(layer.gamma))
    per_class = [tf.data.Dataset.from_tensor_slices((x[y == c], tf.one_hot(y[y == c], CLASSES)))
                 for c in range(CLASSES)]
    stream = sampled(per_class, class_weights(counts, sampling), seed)  # the Trainer's sampler
    batches = augment_dataset(stream, seed, "flip_crop").batch(batch_size).prefetch(2)
    model.compile(tf.keras.optimizers.Adam(learning_rate), "categorical_crossentropy")
    steps = int(np.ceil(len(y) / batch_size))
    # The Trainer's own callbacks choose the weights kept (trainer/stages.py).
    best = stages.BestEpoch(valid[0], valid[1], CLASSES, restore=not average_last)
    average = stages.WeightAverage.over_last(average_last, epochs)
    model.fit(batches, steps_per_epoch=steps, epochs=epochs, verbose=0,
              callbacks=[best] + ([average] if average else []))
    best.finish(average)
    return {"seed": seed, "kept": best.kept, "dev": scores(model, *data["dev"], rarest),
            "test": scores(model, *data["test"], rarest)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sampling", default="balanced", choices=("balanced", "sqrt", "natural"))
    parser.add_argument("--no-zero-init", dest="zero_init", action="store_false")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=RECIPES["longtail"]["batch_size"])
    parser.add_argument("--keras-stem", action="store_true",
                        help="keep Keras' stride-2 first convolution at 32 px")
    parser.add_argument("--valid-share", type=float, default=0.0,
                        help="choose on this share of train held out, as the pipeline does "
                             "(0: choose on the dev split)")
    parser.add_argument("--average-last", type=float, default=0.0,
                        help="keep the mean of the weights of this share of the epochs, at "
                             "the end (0: the best epoch on validation)")
    args = parser.parse_args()
    if args.keras_stem:
        model_lib.FULL_RESOLUTION_STEM_BELOW = 0
    data = splits()
    runs = []
    for seed in args.seeds:
        runs.append(train(data, seed, args.sampling, args.zero_init, args.epochs,
                          args.batch_size, valid_share=args.valid_share,
                          average_last=args.average_last))
        print(json.dumps(runs[-1], default=float), flush=True)
    print(f"sampling {args.sampling}, zero-init {args.zero_init}, batch {args.batch_size}, "
          f"{'Keras' if args.keras_stem else 'build_model'}'s stem, validation split "
          f"{args.valid_share or 'dev'}, average of the last {args.average_last}, "
          f"{len(runs)} seeds (mean ± sd):")
    for split in ("dev", "test"):
        cells = []
        for key in ("accuracy", "bottom_5", "macro_f1"):
            values = np.array([run[split][key] for run in runs])
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{key} {values.mean():.2f} ± {spread:.2f}")
        print(f"  {split}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
