"""`rarespecies serve` (serving/server.py) and `rarespecies predict` (serving/client.py).
TensorFlow is imported only by `serve`."""
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
                    "newer versions are picked up without a restart.")
    serve.add_argument("--model-base-path", required=True,
                       help="folder holding integer version folders (TF Serving layout)")
    serve.add_argument("--model-name", default="rarespecies")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default: %(default)s, local only)")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--poll-seconds", type=_positive(float), default=2.0,
                       help="how often to look for a newer version (default: %(default)s)")
    serve.add_argument("--max-batch-size", type=_positive(int), default=32,
                       help="most rows per model call (default: %(default)s)")
    serve.add_argument("--batch-timeout-ms", type=_non_negative, default=5.0,
                       help="how long a batch waits for more requests (default: %(default)s)")
    serve.add_argument("--max-body-bytes", type=_positive(int), default=16 * 1024 * 1024,
                       help="largest request body accepted (default: %(default)s)")
    serve.add_argument("--max-inflight", type=_positive(int), default=128,
                       help="most predict requests under way at once; more get 503 "
                            "(default: %(default)s)")
    serve.add_argument("--access-log", action="store_true",
                       help="log every request (off by default, as in TF Serving: a line per "
                            "request costs throughput)")
    serve.set_defaults(func=_serve)

    predict = subparsers.add_parser(
        "predict", help="classify images with a running model server",
        description="Send images to a TF Serving REST endpoint (rarespecies serve or TF "
                    "Serving) and print the top-k species per image.")
    predict.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER",
                         help="image files, or folders (searched recursively)")
    predict.add_argument("--url", default="http://127.0.0.1:8501")
    predict.add_argument("--model", default="rarespecies")
    predict.add_argument("--model-version", type=_positive(int), default=None,
                         help="a specific version (default: the newest served)")
    predict.add_argument("--top-k", type=_positive(int), default=3)
    predict.add_argument("--timeout", type=_positive(float), default=60.0,
                         help="seconds to wait for each request (default: %(default)s)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.add_argument("--csv", metavar="FILE", help="also write path,rank,species,score rows")
    predict.set_defaults(func=_predict)


def _serve(args) -> int:
    import logging
    base = Path(args.model_base_path)
    if not base.is_dir():
        print(f"error: --model-base-path {base} is not a folder", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from serving.server import ServerConfig, serve  # imports TensorFlow
    config = ServerConfig(str(base.resolve()), args.model_name, args.poll_seconds,
                          args.max_batch_size, args.batch_timeout_ms, args.max_body_bytes,
                          max_inflight=args.max_inflight)
    serve(config, host=args.host, port=args.port, access_log=args.access_log)
    return 0


def _rows(results):
    for result in results:
        for rank, pred in enumerate(result["predictions"], 1):
            yield result["path"], rank, pred["species"], pred["score"]


def _table(results) -> str:
    rows = [("IMAGE", "RANK", "SPECIES", "SCORE")]
    last = None
    for path, rank, species, score in _rows(results):
        rows.append(("" if path == last else path, str(rank), species, f"{score:.4f}"))
        last = path
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}"
                     for r in rows)


def _predict(args) -> int:
    from serving.client import PredictError, predict
    try:
        results = predict(args.url, args.model, args.images, top_k=args.top_k,
                          version=args.model_version, timeout=args.timeout)
        if args.csv:
            with open(args.csv, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["path", "rank", "species", "score"])
                writer.writerows(_rows(results))
    except (PredictError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0
