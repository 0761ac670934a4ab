"""`rarespecies serve` (serving/server.py) and `rarespecies predict` (serving/client.py,
serving/megadetector.py). TensorFlow is imported only by `serve`."""
import argparse
import csv
import json
import sys
from pathlib import Path


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _non_negative(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_parser(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve a model base path over the TF Serving REST API",
        description="Serve <base>/<version>/saved_model.pb over the TF Serving REST API; "
                    "newer versions are picked up without a restart. With "
                    "--model-config-file (TF Serving's models.config): the versions it lists, "
                    "under their labels.")
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--model-base-path",
                       help="folder holding version folders (TF Serving layout)")
    where.add_argument("--model-config-file", metavar="FILE",
                       help="TF Serving's text ModelServerConfig: one model, its base_path, "
                            "specific versions and version_labels (re-read as it changes)")
    serve.add_argument("--model-name", default="rarespecies",
                       help="served name, with --model-base-path (default: %(default)s)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default: %(default)s, local only)")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--poll-seconds", type=_positive(float), default=2.0,
                       help="how often to look for new versions (default: %(default)s)")
    serve.add_argument("--max-batch-size", type=_positive(int), default=32,
                       help="most rows per model call (default: %(default)s)")
    serve.add_argument("--batch-timeout-ms", type=_non_negative, default=5.0,
                       help="how long a batch waits for more requests (default: %(default)s)")
    serve.add_argument("--max-body-bytes", type=_positive(int), default=16 * 1024 * 1024,
                       help="largest request body accepted, gzip bodies unpacked (default: "
                            "%(default)s)")
    serve.add_argument("--body-timeout", type=_positive(float), default=30.0, metavar="SECONDS",
                       help="a request body must arrive within this (default: %(default)s)")
    serve.add_argument("--max-inflight", type=_positive(int), default=128,
                       help="most requests checked, queued or run at once; more get 503 "
                            "(default: %(default)s)")
    serve.add_argument("--max-instances", type=_positive(int), default=256,
                       help="most images per request; more get 413 (default: %(default)s)")
    serve.add_argument("--max-request-pixels", type=_positive(int), default=256_000_000,
                       help="most image pixels per request, read from the headers; more get "
                            "413 (default: %(default)s)")
    serve.add_argument("--min-confidence", type=_probability, default=None,
                       help="answer 'unknown' below this top score (default: the threshold "
                            "the model was trained with)")
    serve.add_argument("--access-log", action="store_true",
                       help="log every request (off by default, as in TF Serving: a line per "
                            "request costs throughput)")
    serve.set_defaults(func=_serve)

    predict = subparsers.add_parser(
        "predict", help="classify images, or MegaDetector's detections, with a model server",
        description="Send images to a TF Serving REST endpoint (rarespecies serve or TF "
                    "Serving) and print the top-k species per image, or write them as they "
                    "come (--output, resumable). With --detections: classify the animals in "
                    "MegaDetector's batch output and write it back with classifications.")
    predict.add_argument("images", nargs="*", metavar="IMAGE_OR_FOLDER",
                         help="image files, or folders (searched recursively)")
    predict.add_argument("--url", default="http://127.0.0.1:8501")
    predict.add_argument("--model", default="rarespecies")
    predict.add_argument("--model-version", type=_positive(int), default=None,
                         help="a specific version (default: the newest served)")
    predict.add_argument("--top-k", type=_positive(int), default=3)
    predict.add_argument("--min-confidence", type=_probability, default=None,
                         help="answer 'unknown' below this top score (default: the model's "
                              "threshold)")
    predict.add_argument("--timeout", type=_positive(float), default=60.0,
                         help="seconds to wait for each request (default: %(default)s)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.add_argument("--csv", metavar="FILE", help="also write path,rank,species,score rows")
    predict.add_argument("--output", metavar="FILE",
                         help="write results as they come, .jsonl or .csv; a rerun skips the "
                              "files already in it. With --detections: the JSON to write")
    predict.add_argument("--detections", metavar="MD_JSON",
                         help="MegaDetector batch output: classify its animal detections")
    predict.add_argument("--image-root", metavar="FOLDER",
                         help="the folder MegaDetector's file paths are relative to (default: "
                              "the detections file's folder)")
    predict.add_argument("--detection-threshold", type=_probability, default=0.2,
                         help="classify detections at or above this confidence (default: "
                              "%(default)s)")
    predict.set_defaults(func=_predict)


def _probability(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _serve(args) -> int:
    import logging
    if args.model_base_path and not Path(args.model_base_path).is_dir():
        print(f"error: --model-base-path {args.model_base_path} is not a folder",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from serving.server import ServerConfig, serve  # imports TensorFlow
    config = ServerConfig(
        str(Path(args.model_base_path).resolve()) if args.model_base_path else "",
        args.model_name, args.poll_seconds, args.max_batch_size, args.batch_timeout_ms,
        args.max_body_bytes, max_inflight=args.max_inflight,
        model_config_file=args.model_config_file, max_instances=args.max_instances,
        max_request_pixels=args.max_request_pixels, body_timeout_s=args.body_timeout,
        min_confidence=args.min_confidence)
    try:
        serve(config, host=args.host, port=args.port, access_log=args.access_log)
    except ValueError as err:  # a models.config that cannot be read
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _rows(results):
    for result in results:
        for rank, pred in enumerate(result.get("predictions", []), 1):
            yield result["path"], rank, pred["species"], pred["score"]


def _table(results) -> str:
    rows = [("IMAGE", "RANK", "SPECIES", "SCORE")]
    last = None
    for path, rank, species, score in _rows(results):
        shown = path
        if path != last and next(r for r in results if r["path"] == path).get("label") == \
                "unknown":
            shown = f"{path} (answer: unknown, for a person)"
        rows.append(("" if path == last else shown, str(rank), species, f"{score:.4f}"))
        last = path
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}"
                     for r in rows)


def _predict(args) -> int:
    from serving.client import PredictError
    if args.detections:
        return _predict_detections(args)
    if not args.images:
        print("error: give images or folders, or --detections", file=sys.stderr)
        return 2
    try:
        results, failed = _predict_files(args)
        if args.csv:
            with open(args.csv, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["path", "rank", "species", "score"])
                writer.writerows(_rows(results))
    except (PredictError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.output:
        print(f"{len(results)} results in {args.output}")
    else:
        print(json.dumps(results, indent=2) if args.json else _table(results))
    for result in failed:
        print(f"error: {result['path']}: {result['error']}", file=sys.stderr)
    return 1 if failed else 0


def _predict_files(args):
    """Results in input order (all, or the new ones with --output), and the failed files."""
    from pipeline.cli import batch_output
    from pipeline.cli.progress import ProgressBar
    from serving.client import expand_image_paths, predict_iter
    files = expand_image_paths(args.images)
    done = batch_output.done_paths(args.output) if args.output else set()
    todo = [f for f in files if str(f) not in done]
    if done:
        print(f"{len(files) - len(todo)} of {len(files)} images already in {args.output}; "
              f"classifying the other {len(todo)}", file=sys.stderr)
    bar = ProgressBar(len(todo)) if len(todo) > 16 else None
    results, failed = [], []
    with batch_output.Writer(args.output) as writer:
        for result in predict_iter(args.url, args.model, todo, top_k=args.top_k,
                                   version=args.model_version, timeout=args.timeout,
                                   min_confidence=args.min_confidence):
            (failed if "error" in result else results).append(result)
            if "error" not in result:
                writer.write(result)
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    return results, failed


def _predict_detections(args) -> int:
    import requests
    from pipeline.cli.progress import ProgressBar
    from serving import megadetector
    from serving.client import PredictError, classify_encoded, predict_url
    if not args.output:
        print("error: --detections needs --output FILE.json", file=sys.stderr)
        return 2
    try:
        results = megadetector.load(args.detections)
    except megadetector.DetectionsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    root = args.image_root or str(Path(args.detections).resolve().parent)
    endpoint = predict_url(args.url, args.model, args.model_version)
    total = megadetector.count_crops(results, args.detection_threshold)
    bar = ProgressBar(total, "detections")
    try:
        with requests.Session() as session:
            out = megadetector.classify(
                results, root, lambda jpegs: classify_encoded(
                    session, endpoint, jpegs, args.top_k, args.timeout, args.min_confidence),
                threshold=args.detection_threshold, top_k=args.top_k,
                classifier=f"{args.model} ({args.url})", progress=bar.update)
    except PredictError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    classified = sum(1 for entry in out["images"] for d in entry.get("detections") or []
                     if "classifications" in d)
    print(f"{classified} of {total} animal detections classified -> {args.output}")
    return 0
