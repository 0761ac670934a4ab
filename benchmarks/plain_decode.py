"""The baseline for ingestion and Transform in pipeline_overhead.py: read, decode and resize
every image of a dataset with tf.io in a plain Python loop. Prints one JSON line.

    python benchmarks/plain_decode.py --data-root out/data/demo --image-size 64
"""
import argparse
import json
import os
import time

import tensorflow as tf


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(args.data_root)
                   for name in names)
    size = [args.image_size, args.image_size]
    started = time.perf_counter()
    for path in paths:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        tf.image.resize(image, size, antialias=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"images": len(paths), "seconds": round(seconds, 2),
                      "images_per_s": round(len(paths) / seconds, 1)}))


if __name__ == "__main__":
    main()
