"""The TF Serving REST API for one model, as a Starlette app served by uvicorn.

Endpoints (each also under `/v1/models/<name>/versions/<v>`):
  GET  /v1/models/<name>            model status
  GET  /v1/models/<name>/metadata   signature_def metadata
  POST /v1/models/<name>:predict    row (`instances`) or columnar (`inputs`) predict
Errors come back as TF Serving's `{"error": "..."}`.
"""
import asyncio
import contextlib
import dataclasses
import json
import logging
import re
from typing import Optional

import tensorflow as tf
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serving import rest
from serving.batching import Batcher
from serving.models import IMAGE_INPUT, ModelRegistry, check_image_sizes, check_images

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?/?$")


@dataclasses.dataclass
class ServerConfig:
    model_base_path: str
    model_name: str = "rarespecies"
    poll_seconds: float = 2.0          # how often to look for a newer version
    max_batch_size: int = 32           # rows per model call
    batch_timeout_ms: float = 5.0      # how long a batch waits for more requests
    max_body_bytes: int = 16 * 1024 * 1024
    # Predict requests being read, checked, queued or run at once; more are answered 503 at
    # once (as TF Serving answers UNAVAILABLE when its batching queue is full), so memory and
    # queueing delay stay bounded under overload.
    max_inflight: int = 128


def _json(content, status: int = 200) -> Response:
    # allow_nan: TF Serving also writes NaN/Infinity for non-finite outputs.
    return Response(json.dumps(content, allow_nan=True, separators=(",", ":")),
                    status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


class _Service:
    def __init__(self, config: ServerConfig):
        self.config = config
        self.registry = ModelRegistry(config.model_base_path)
        self.batcher: Optional[Batcher] = None
        self.inflight = 0  # predict requests under way (one event loop: no lock needed)

    # -- lifecycle -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.registry.refresh)
        if not self.registry.loaded_versions:
            log.warning("no loadable version under %s yet; waiting for one",
                        self.config.model_base_path)
        self.batcher = Batcher(lambda key, inputs: key[0].run(key[1], inputs),
                               self.config.max_batch_size, self.config.batch_timeout_ms / 1000)
        self.batcher.start()
        poller = loop.create_task(self._poll())
        try:
            yield
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await self.batcher.stop()

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            try:
                # Loading runs in a worker thread: requests keep being served by the old
                # version until the new one is fully loaded, then the swap is one assignment.
                await loop.run_in_executor(None, self.registry.refresh)
            except Exception:  # noqa: BLE001 - polling must survive anything
                log.exception("polling %s failed", self.config.model_base_path)

    # -- request handling ------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        match = _PATH.match(request.url.path)
        if not match:
            return _error(f"Malformed request: {request.method} {request.url.path}", 404)
        verb, metadata = match["verb"], match["metadata"]
        want = "POST" if verb else "GET"
        if request.method.replace("HEAD", "GET") != want:
            return _error(f"Malformed request: {request.method} {request.url.path} "
                          f"(use {want})", 405)
        try:
            model = self._model(match["name"], match["version"])
            if metadata:
                return _json(self._metadata(model))
            if verb is None:
                return _json(self._status(model))
            if verb in ("classify", "regress"):
                raise rest.RequestError(f"':{verb}' is not supported by this server; "
                                        f"use ':predict'")
            if verb != "predict":
                raise rest.RequestError(f"Malformed request: unknown method ':{verb}'", 404)
            return _json(await self._predict(model, request))
        except rest.RequestError as err:
            return _error(err.message, err.status)
        except tf.errors.InvalidArgumentError as err:
            return _error(err.message, 400)
        except Exception as err:  # noqa: BLE001 - report, keep serving
            log.exception("request failed")
            return _error(f"{type(err).__name__}: {err}", 500)

    def _model(self, name: str, version: Optional[str]):
        if name != self.config.model_name:
            raise rest.RequestError(f"Servable not found for request: Latest({name})", 404)
        model = self.registry.get(None if version is None else int(version))
        if model is None:
            if version is None:
                raise rest.RequestError(f"Could not find any versions of model {name}", 404)
            raise rest.RequestError(f"Servable not found for request: Specific({name}, "
                                    f"{version}) (loaded: {self.registry.loaded_versions})", 404)
        return model

    def _status(self, model) -> dict:
        return {"model_version_status": [{
            "version": str(model.version), "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}

    def _metadata(self, model) -> dict:
        return {"model_spec": {"name": self.config.model_name, "signature_name": "",
                               "version": str(model.version)},
                "metadata": {"signature_def": model.signature_metadata()}}

    async def _predict(self, model, request: Request) -> dict:
        if self.inflight >= self.config.max_inflight:
            raise rest.RequestError(f"server overloaded: {self.inflight} predict requests in "
                                    f"flight (limit {self.config.max_inflight}); retry later",
                                    503)
        self.inflight += 1
        try:
            return await self._predict_one(model, request)
        finally:
            self.inflight -= 1

    async def _predict_one(self, model, request: Request) -> dict:
        data = rest.parse_json_body(await self._read_body(request))
        signature = rest.signature_name_of(data)
        if signature not in model.input_specs:
            raise rest.RequestError(f"Serving signature name: \"{signature}\" not found in "
                                    f"signature def (have: {', '.join(model.input_specs)})")
        parsed = rest.parse_predict(data, model.input_specs[signature])
        images = parsed.inputs.get(IMAGE_INPUT)
        if images is not None:
            # Only the headers before batching (a decompression bomb never reaches the model):
            # decoding every image here as well as in the model cost a second decode.
            check_image_sizes(images)
        try:
            outputs = await self.batcher.submit((model, signature), parsed.inputs, parsed.rows)
        except tf.errors.InvalidArgumentError:
            # The batcher has rerun this request alone, so the fault is in it. Decoding it
            # again names the instance that is not an image; otherwise TF's own message.
            if images is not None:
                await asyncio.get_running_loop().run_in_executor(None, check_images, images)
            raise
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
        # Count what actually arrives too: chunked bodies carry no Content-Length.
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise rest.RequestError(f"request body is over the limit of {limit} bytes", 413)
            chunks.append(chunk)
        return b"".join(chunks)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error(exc.detail or "error", exc.status_code)


def create_app(config: ServerConfig) -> Starlette:
    service = _Service(config)
    app = Starlette(routes=[Route("/v1/models/{rest:path}", service.handle,
                                  methods=["GET", "POST"])],
                    lifespan=service.lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app


def serve(config: ServerConfig, host: str = "127.0.0.1", port: int = 8501,
          log_level: str = "info", access_log: bool = False) -> None:
    import uvicorn
    # uvicorn picks httptools and uvloop (in the lock) over its pure-Python parser and loop.
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level,
                access_log=access_log,
                timeout_graceful_shutdown=5)
