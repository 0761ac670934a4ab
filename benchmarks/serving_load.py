"""Load test of the TF Serving REST API (`rarespecies serve`, or TF Serving itself) on this
machine, with malformed requests mixed into good ones.

    python benchmarks/serving_load.py --stand-in                  # a small stand-in model
    python benchmarks/serving_load.py --model-base-path out/serving_model/rarespecies
    python benchmarks/serving_load.py --url http://127.0.0.1:8501   # a server already running

Sends --requests requests (default 2,000), --concurrency at a time (default 16); every
--bad-every-th request (default 5th) is malformed or abusive (too many instances, 5,000 tiny
images, a gzip bomb, JSON nested 50,000 deep, a 12000x12000 JPEG, ...), cycling through
tests/support/serving_load.malformed_requests. Traffic goes to 127.0.0.1 only. Prints, and with
--json writes, the status counts, the latency percentiles and (for a server it started) the
server's peak resident memory; exits 1 if any request got a 5xx, failed to connect, or the
server died.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python benchmarks/serving_load.py`
from tests.support import serving_process as process  # noqa: E402
from tests.support.serving_load import peak_memory_bytes, run_load  # noqa: E402
from tests.support.stand_in_model import build_stand_in as build  # noqa: E402


def build_stand_in(base: Path) -> None:
    """Version 1 of a small model with the pipeline's serving contract."""
    build(base / "1", ["Snowy Owl", "Puffin", "Razorbill", "Araripe Manakin"], seed=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server on this machine")
    where.add_argument("--model-base-path", help="serve this base path for the test")
    where.add_argument("--stand-in", action="store_true", help="serve a small stand-in model")
    parser.add_argument("--model", default="rarespecies")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bad-every", type=int, default=5)
    parser.add_argument("--body-limit", type=int, default=16 * 2**20,
                        help="the server's --max-body-bytes")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)

    proc, url = None, args.url
    tmp = tempfile.TemporaryDirectory()
    try:
        if not url:
            base = Path(args.model_base_path or Path(tmp.name) / "models")
            if args.stand_in:
                build_stand_in(base)
            log_path = Path(tmp.name) / "server.log"
            proc, url = process.start_serve(base, log_path, "--max-body-bytes",
                                            str(args.body_limit))
            process.wait_ready(url, proc, log_path, timeout=300, model=args.model)
        results = run_load(url, args.model, args.requests, args.concurrency, args.bad_every,
                           args.body_limit)
        alive = proc is None or proc.poll() is None
        results["server_alive_after"] = alive
        if proc is not None:
            results["server_peak_memory_mib"] = round(peak_memory_bytes(proc.pid) / 2**20)
    finally:
        if proc is not None:
            process.stop(proc)
        tmp.cleanup()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    ok = alive and not results["server_errors_5xx"] and not results["connection_errors"] \
        and not results["unexpected_count"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
