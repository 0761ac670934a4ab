"""The baseline for pipeline_overhead.py: the pipeline's model, loss, augmentation and
optimizer trained with plain Keras on tf.data read straight from the image folders, the way
one would without TFX. Prints one JSON line of timings and the test accuracy.

    python benchmarks/plain_keras.py --data-root out/data/demo --image-size 64 --epochs 15
"""
import argparse
import json
import os
import time

STARTED = time.perf_counter()

import tensorflow as tf  # noqa: E402  (after the clock starts: imports are part of the cost)

import common  # noqa: E402,F401  (puts the repository on sys.path)
from trainer.augmentation import augment_dataset  # noqa: E402
from trainer.losses import make_loss  # noqa: E402
from trainer.model import build_model  # noqa: E402


def listing(split_root):
    species = sorted(os.listdir(split_root))
    files, labels = [], []
    for label, name in enumerate(species):
        names = sorted(os.listdir(os.path.join(split_root, name)))
        files += [os.path.join(split_root, name, f) for f in names]
        labels += [label] * len(names)
    return species, files, labels


def dataset(files, labels, num_classes, image_size):
    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        image = tf.image.resize(image, [image_size, image_size], antialias=True) / 255.0
        return tf.clip_by_value(image, 0.0, 1.0), tf.one_hot(label, num_classes)
    return tf.data.Dataset.from_tensor_slices((files, labels)).map(
        load, num_parallel_calls=tf.data.AUTOTUNE).cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--loss", default="sigmoid_focal")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    tf.keras.utils.set_random_seed(args.seed)
    species, train_files, train_labels = listing(os.path.join(args.data_root, "train"))
    _, test_files, test_labels = listing(os.path.join(args.data_root, "test"))
    counts = [train_labels.count(i) for i in range(len(species))]
    train = dataset(train_files, train_labels, len(species), args.image_size)
    train = augment_dataset(train.shuffle(4096, seed=args.seed), args.seed)
    train = train.batch(args.batch_size).prefetch(tf.data.AUTOTUNE)
    test = dataset(test_files, test_labels, len(species), args.image_size).batch(256)

    model = build_model(len(species), args.image_size)
    model.compile(optimizer=tf.keras.optimizers.Adam(args.learning_rate),
                  loss=make_loss(args.loss, class_counts=counts),
                  metrics=[tf.keras.metrics.CategoricalAccuracy(name="accuracy")])
    fit_started = time.perf_counter()
    model.fit(train, epochs=args.epochs, verbose=2)
    fit_seconds = time.perf_counter() - fit_started
    _, accuracy = model.evaluate(test, verbose=0)
    print(json.dumps({"train_images": len(train_files), "test_images": len(test_files),
                      "epochs": args.epochs, "fit_s": round(fit_seconds, 1),
                      "total_s": round(time.perf_counter() - STARTED, 1),
                      "test_accuracy": round(float(accuracy), 4)}))


if __name__ == "__main__":
    main()
