"""The server's Prometheus metrics, at /monitoring/prometheus/metrics in the text format. Names
follow TF Serving's where it has one (':tensorflow:serving:request_count', ...); the batch
sizes and the responses by HTTP code are this server's own (`rarespecies_...`)."""
import bisect
import threading
from collections import defaultdict
from typing import Dict, Sequence, Tuple

LATENCY_BUCKETS_US = (1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# HTTP status -> the gRPC code name TF Serving puts in request_count's status label.
CODE_NAMES = {200: "OK", 400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "INVALID_ARGUMENT",
              408: "DEADLINE_EXCEEDED", 413: "RESOURCE_EXHAUSTED",
              429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class _Histogram:
    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str, labels: str) -> list:
        out, running = [], 0
        for bound, count in zip(self.buckets + (float("inf"),), self.counts):
            running += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{{labels}{"," if labels else ""}le="{le}"}} {running}')
        out += [f"{name}_sum{{{labels}}} {self.total:g}", f"{name}_count{{{labels}}} {running}"]
        return out


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def _labels(**values) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in values.items())


class Metrics:
    def __init__(self, model_name: str):
        self.model_name = model_name
        self._lock = threading.Lock()
        self.requests: Dict[Tuple[str, str], int] = defaultdict(int)  # (API, status) -> n
        self.responses: Dict[int, int] = defaultdict(int)            # HTTP code -> n
        self.latency: Dict[str, _Histogram] = {}                     # API -> microseconds
        self.batch_size = _Histogram(BATCH_BUCKETS)

    def request(self, api: str, http_status: int, seconds: float) -> None:
        status = CODE_NAMES.get(http_status, "UNKNOWN")
        with self._lock:
            self.requests[(api, status)] += 1
            self.responses[http_status] += 1
            if http_status == 200:  # as TF Serving, latency of the requests that succeeded
                self.latency.setdefault(api, _Histogram(LATENCY_BUCKETS_US)).observe(
                    seconds * 1e6)

    def batch(self, rows: int) -> None:
        with self._lock:
            self.batch_size.observe(rows)

    def text(self) -> str:
        with self._lock:
            lines = ["# TYPE :tensorflow:serving:request_count counter"]
            for (api, status), n in sorted(self.requests.items()):
                lines.append(":tensorflow:serving:request_count{"
                             + _labels(model_name=self.model_name, API=api, status=status)
                             + f"}} {n}")
            lines.append("# TYPE :tensorflow:serving:request_latency histogram")
            for api, histogram in sorted(self.latency.items()):
                lines += histogram.lines(":tensorflow:serving:request_latency", _labels(
                    model_name=self.model_name, API=api, entrypoint="REST"))
            lines.append("# TYPE rarespecies_batch_size histogram")
            lines += self.batch_size.lines("rarespecies_batch_size",
                                           _labels(model_name=self.model_name))
            lines.append("# TYPE rarespecies_http_responses_total counter")
            for code, n in sorted(self.responses.items()):
                lines.append("rarespecies_http_responses_total{"
                             + _labels(model_name=self.model_name, code=code) + f"}} {n}")
        return "\n".join(lines) + "\n"
