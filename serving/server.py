"""The TF Serving REST API for one model, as a Starlette app served by uvicorn.

Endpoints (each model one also under `/v1/models/<name>/versions/<v>` and `/labels/<label>`):
  GET  /v1/models/<name>                 status of every version (state, error)
  GET  /v1/models/<name>/metadata        signature_def metadata
  POST /v1/models/<name>:predict         row (`instances`) or columnar (`inputs`) predict
  POST /v1/models/<name>:classify        tf.Examples in, [[label, score], ...] out
  GET  /monitoring/prometheus/metrics    request counts, latency, batch sizes, errors by code
Errors come back as TF Serving's `{"error": "..."}`; a 5xx says no more than that it happened
(the details are logged here with the id it names).

What keeps it up: bodies are capped and must arrive within a timeout; a request counts as in
flight (and against --max-inflight) once its body is in; JSON parsing, base64 and the image
checks run in worker threads, off the event loop; instances and pixels per request are capped;
a bad image fails its own request only (batching.py).
"""
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import re
import time
import uuid
import zlib
from typing import Optional

import numpy as np
import tensorflow as tf
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from schema.features import IMAGE_KEY
from serving import examples, image_guard, rest
from serving.batching import Batcher
from serving.metrics import Metrics
from serving.registry import ModelConfig, ModelRegistry, read_model_config

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d{1,18})|"
                   r"/labels/(?P<label>[^/:]+))?(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?/?$")
METRICS_PATH = "/monitoring/prometheus/metrics"
IMAGE_INPUT = "image_bytes"       # serving_default's encoded images
EXAMPLES_INPUTS = ("examples", "inputs")  # serving_examples' and classify's tf.Examples
UNKNOWN = b"unknown"


@dataclasses.dataclass
class ServerConfig:
    model_base_path: str = ""
    model_name: str = "rarespecies"
    poll_seconds: float = 2.0          # how often to look for a newer version
    max_batch_size: int = 32           # rows per model call
    batch_timeout_ms: float = 5.0      # how long a batch waits for more requests
    max_body_bytes: int = 16 * 1024 * 1024   # also the limit of a gzip body, unpacked
    # Requests whose body is in and that are being checked, queued or run; more are answered
    # 503 at once (as TF Serving answers UNAVAILABLE when its batching queue is full).
    max_inflight: int = 128
    model_config_file: Optional[str] = None  # TF Serving's models.config: versions, labels
    max_instances: int = 256           # instances (or examples) per request
    max_request_pixels: int = 256_000_000    # image pixels per request, from the headers
    body_timeout_s: float = 30.0       # a body must arrive within this
    min_confidence: Optional[float] = None   # overrides the model's abstain threshold


def _json(content, status: int = 200) -> Response:
    # allow_nan: TF Serving also writes NaN/Infinity for non-finite outputs.
    return Response(json.dumps(content, allow_nan=True, separators=(",", ":")),
                    status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


def _model_config(config: ServerConfig) -> ModelConfig:
    if config.model_config_file:
        return read_model_config(config.model_config_file)
    return ModelConfig(config.model_name, config.model_base_path)


class _Service:
    def __init__(self, config: ServerConfig):
        self.config = config
        self.registry = ModelRegistry(_model_config(config), config.model_config_file)
        self.metrics = Metrics(self.registry.config.name)
        self.batcher: Optional[Batcher] = None
        self.inflight = 0  # requests being checked, queued or run (one event loop: no lock)
        self._workers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="parse")

    # -- lifecycle -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.registry.refresh)
        if not self.registry.loaded_versions:
            log.warning("no loadable version under %s yet; waiting for one",
                        self.registry.base_path)
        self.batcher = Batcher(lambda key, inputs: key[0].run(key[1], inputs),
                               self.config.max_batch_size, self.config.batch_timeout_ms / 1000,
                               on_batch=self.metrics.batch)
        self.batcher.start()
        poller = loop.create_task(self._poll())
        try:
            yield
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await self.batcher.stop()
            self._workers.shutdown(wait=False, cancel_futures=True)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            try:
                # Loading runs in a worker thread: requests keep being served by the loaded
                # versions until a new one is loaded and warmed up, then the swap is one
                # assignment.
                await loop.run_in_executor(None, self.registry.refresh)
            except Exception:  # noqa: BLE001 - polling must survive anything
                log.exception("polling %s failed", self.registry.base_path)

    # -- request handling ------------------------------------------------------------------
    async def metrics_page(self, request: Request) -> Response:
        return PlainTextResponse(self.metrics.text())

    async def handle(self, request: Request) -> Response:
        started = time.monotonic()
        match = _PATH.match(request.url.path)
        api = (match and (match["verb"] or ("metadata" if match["metadata"] else "status"))) \
            or "unknown"
        if api not in ("predict", "classify", "regress", "metadata", "status"):
            api = "unknown"  # any other ':verb' would add a metrics series
        response = await self._respond(request, match)
        self.metrics.request(api, response.status_code, time.monotonic() - started)
        return response

    async def _respond(self, request: Request, match) -> Response:
        if not match:
            return _error(f"Malformed request: {request.method} {request.url.path}", 404)
        verb, metadata = match["verb"], match["metadata"]
        want = "POST" if verb else "GET"
        if request.method.replace("HEAD", "GET") != want:
            return _error(f"Malformed request: {request.method} {request.url.path} "
                          f"(use {want})", 405)
        version = None if match["version"] is None else int(match["version"])
        try:
            if match["name"] != self.registry.config.name:
                raise rest.RequestError(f"Servable not found for request: Latest("
                                        f"{match['name']})", 404)
            if verb is None and not metadata:  # as TF Serving, a label does not filter status
                return _json({"model_version_status": self.registry.status(version)})
            model = self.registry.get(version, match["label"])
            if metadata:
                return _json(self._metadata(model))
            if verb not in ("predict", "classify"):
                raise rest.RequestError(
                    f"':{verb}' is not supported: the model has no regression signature"
                    if verb == "regress" else f"Malformed request: unknown method ':{verb}'",
                    400 if verb == "regress" else 404)
            return _json(await self._run(model, request, verb))
        except rest.RequestError as err:
            return _error(err.message, err.status)
        except tf.errors.InvalidArgumentError as err:
            return _error(err.message.splitlines()[0], 400)
        except Exception:  # noqa: BLE001 - logged with an id; the client learns no internals
            incident = uuid.uuid4().hex[:12]
            log.exception("request %s failed (incident %s)", request.url.path, incident)
            return _error(f"Internal error (incident {incident}; see the server log)", 500)

    def _metadata(self, model) -> dict:
        return {"model_spec": {"name": self.registry.config.name, "signature_name": "",
                               "version": str(model.version)},
                "metadata": {"signature_def": model.signature_metadata()}}

    async def _run(self, model, request: Request, verb: str) -> dict:
        body = await self._read_body(request)
        if self.inflight >= self.config.max_inflight:
            raise rest.RequestError(f"server overloaded: {self.inflight} requests in flight "
                                    f"(limit {self.config.max_inflight}); retry later", 503)
        self.inflight += 1
        try:
            loop = asyncio.get_running_loop()
            signature, parsed, encoded_images = await loop.run_in_executor(
                self._workers, self._prepare, model, body, verb)
            try:
                outputs = await self.batcher.submit((model, signature), parsed.inputs,
                                                    parsed.rows)
            except tf.errors.InvalidArgumentError:
                # The batcher has isolated this request, so the fault is in it: decoding its
                # images names the one that is not an image; otherwise TF's own message.
                if encoded_images is not None:
                    await loop.run_in_executor(self._workers, image_guard.find_undecodable,
                                               encoded_images, parsed.image_input)
                raise
            return self._format(outputs, parsed, verb)
        finally:
            self.inflight -= 1

    def _prepare(self, model, body: bytes, verb: str):
        """In a worker thread: the request body -> (signature, parsed request, the images to
        blame if the model refuses them)."""
        try:
            data = rest.parse_json_body(body)
            signature = rest.signature_name_of(data)
            if signature not in model.input_specs:
                raise rest.RequestError(f"Serving signature name: \"{signature}\" not found in "
                                        f"signature def (have: {', '.join(model.input_specs)})")
            specs = model.input_specs[signature]
            if verb == "classify":
                if set(specs) != {"inputs"}:
                    raise rest.RequestError(
                        f"signature \"{signature}\" is not a classification signature (one "
                        "input named 'inputs'); the model's is \"classify\"")
                serialized = examples.parse_classify(data)
                parsed = rest.PredictRequest(signature, {"inputs": serialized},
                                             len(serialized), False)
            else:
                parsed = rest.parse_predict(data, specs)
        except RecursionError:
            raise rest.RequestError("JSON Value: nested too deeply") from None
        if parsed.rows > self.config.max_instances:
            raise rest.RequestError(f"the request has {parsed.rows} instances, over the limit "
                                    f"of {self.config.max_instances} (the server's "
                                    "--max-instances); send fewer per request", 413)
        encoded, parsed.image_input = None, None
        if IMAGE_INPUT in parsed.inputs:
            encoded, parsed.image_input = parsed.inputs[IMAGE_INPUT], IMAGE_INPUT
            image_guard.check_sizes(encoded.ravel(), IMAGE_INPUT,
                                    self.config.max_request_pixels)
        for name in EXAMPLES_INPUTS:
            if name in parsed.inputs:
                contained = examples.images_in(parsed.inputs[name])
                image_guard.check_sizes(contained, f"{name}'s {IMAGE_KEY}",
                                        self.config.max_request_pixels)
        return signature, parsed, encoded

    def _format(self, outputs: dict, parsed, verb: str) -> dict:
        if verb == "classify":
            return examples.format_classify(outputs["classes"], outputs["scores"])
        if self.config.min_confidence is not None and {"label", "scores", "classes"} <= \
                set(outputs):
            sure = np.asarray(outputs["scores"])[:, 0] >= self.config.min_confidence
            outputs = dict(outputs, label=np.where(sure, np.asarray(outputs["classes"])[:, 0],
                                                   UNKNOWN))
        return rest.format_predict(outputs, parsed.row_format)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise rest.RequestError("invalid Content-Length header")
            if int(declared) > limit:
                raise rest.RequestError(f"request body of {declared} bytes is over the "
                                        f"limit of {limit} bytes", 413)

        async def read() -> bytes:
            # Count what actually arrives too: chunked bodies carry no Content-Length.
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise rest.RequestError(f"request body is over the limit of {limit} bytes",
                                            413)
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            body = await asyncio.wait_for(read(), self.config.body_timeout_s)
        except asyncio.TimeoutError:
            raise rest.RequestError(f"the request body did not arrive within "
                                    f"{self.config.body_timeout_s:g} s", 408) from None
        if "gzip" in request.headers.get("content-encoding", ""):
            body = _gunzip(body, limit)
        return body


def _gunzip(body: bytes, limit: int) -> bytes:
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = unpacker.decompress(body, limit + 1)
    except zlib.error as err:
        raise rest.RequestError(f"the gzip body does not decompress ({err})") from None
    if len(data) > limit or unpacker.unconsumed_tail:
        raise rest.RequestError(f"the gzip body unpacks to over the limit of {limit} bytes", 413)
    return data


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error(exc.detail or "error", exc.status_code)


def create_app(config: ServerConfig) -> Starlette:
    service = _Service(config)
    app = Starlette(routes=[Route("/v1/models/{rest:path}", service.handle,
                                  methods=["GET", "POST"]),
                            Route(METRICS_PATH, service.metrics_page, methods=["GET"])],
                    lifespan=service.lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app


def serve(config: ServerConfig, host: str = "127.0.0.1", port: int = 8501,
          log_level: str = "info", access_log: bool = False) -> None:
    import uvicorn
    # uvicorn picks httptools and uvloop (in the lock) over its pure-Python parser and loop.
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level,
                access_log=access_log, timeout_graceful_shutdown=5)
