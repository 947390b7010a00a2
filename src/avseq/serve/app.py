"""The FastAPI app: JSON endpoints for the three tasks, a health check, the web page, and the
handlers that turn every refusal and failure into `{"error": "<one line>"}`.

    app = create_app(load_predictors(speech_ckpt, video_ckpt), ServerLimits())
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from avseq.errors import AvseqError
from avseq.inference.speech import DecodeOptions
from avseq.serve import results
from avseq.serve.limits import ApiError, ServerLimits, WorkerPool
from avseq.serve.predictors import TASKS, Predictors, load_predictors
from avseq.serve.schemas import CaptionResult, ClassifyResult, ErrorBody, Health, TranscribeResult
from avseq.serve.uploads import Upload, receive_upload

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ERRORS = {code: {"model": ErrorBody} for code in (400, 404, 408, 413, 415, 422, 503, 504)}


def upload_docs(fields: dict[str, Any]) -> dict[str, Any]:
    """The multipart body of an upload endpoint, for OpenAPI (the body is parsed by hand)."""
    props = {"file": {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "properties": props, "required": ["file"]}
    body = {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return {"requestBody": body}


class SecurityHeaders:
    """ASGI middleware: no content sniffing anywhere, and a strict policy for the page (scripts
    and styles only from this server, nothing fetched elsewhere)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        page = scope["path"] == "/" or scope["path"].startswith("/static/")

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff")]
                headers += [(b"referrer-policy", b"no-referrer")]
                if page:
                    headers += [(b"content-security-policy", PAGE_POLICY.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return error(err.status, err.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        if err.status_code == 404:
            return error(404, f"no such page or endpoint: {request.url.path[:80]} (see /docs)")
        return error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return error(422, f"bad value for {where or 'the request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        return error(500, "internal error while handling the request; it is in the server's log")


def truthy(text: str | None) -> bool:
    if text is None or text.lower() in ("", "0", "false", "no", "off"):
        return False
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    raise ApiError(400, f"the form field 'srt' must be true or false, got {text[:20]!r}")


def create_app(
    predictors: Predictors | Sequence[Predictors],
    limits: ServerLimits | None = None,
    temp_root: str | Path | None = None,
) -> FastAPI:
    """The app for loaded models.

    Args:
        predictors: one set of models, or one per worker (`limits.workers` of them; fewer
            means fewer requests run at once).
        limits: upload, duration, timeout and concurrency limits (defaults: `ServerLimits()`).
        temp_root: where each request's temporary folder is made (default: a fresh folder in
            the system's temporary directory, removed at shutdown).
    """
    limits = limits or ServerLimits()
    replicas = [predictors] if isinstance(predictors, Predictors) else list(predictors)
    pool: WorkerPool[Predictors] = WorkerPool(replicas, limits)
    owned = temp_root is None
    root = Path(tempfile.mkdtemp(prefix="avseq-serve-") if owned else temp_root)
    root.mkdir(parents=True, exist_ok=True)
    if owned:  # also when the app is used without its lifespan (a test client, a notebook)
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    models = replicas[0]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown()
        if owned:
            shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(
        title="avseq",
        summary="Speech recognition, action recognition and video captioning with recurrent "
        "networks",
        lifespan=lifespan,
    )
    app.state.pool, app.state.temp_root, app.state.limits = pool, root, limits
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)

    async def serve_task(request: Request, task: str, srt: bool = False) -> dict[str, Any]:
        """Admit, receive the upload, run the task on a worker; the request's folder is removed
        once the work is over, whatever happened."""
        deadline = time.monotonic() + limits.request_timeout
        if task in models.missing:
            raise ApiError(404, models.missing[task])
        pool.admit()
        folder = Path(tempfile.mkdtemp(prefix="req-", dir=root))
        cleanup = partial(shutil.rmtree, folder, ignore_errors=True)
        try:
            fields = ("srt",) if task == "transcribe" else ()
            upload = await receive(request, folder, fields, deadline)
            srt = srt or truthy(upload.fields.get("srt"))
        except BaseException:
            pool.release()
            cleanup()
            raise
        run = results.TASK_RUNS[task]
        args = (upload.path, limits, srt) if task == "transcribe" else (upload.path, limits)
        work = partial(run_work, run, args, upload, folder)
        try:
            result = await pool.run(work, deadline - time.monotonic(), cleanup)
        except TimeoutError:
            raise ApiError(
                504,
                f"the request took longer than this server's limit of {limits.request_timeout:g} s",
            ) from None
        return {"file": upload.filename, **result}

    async def receive(
        request: Request, folder: Path, fields: tuple[str, ...], deadline: float
    ) -> Upload:
        try:
            return await asyncio.wait_for(
                receive_upload(request, folder, limits.max_upload_bytes, fields),
                deadline - time.monotonic(),
            )
        except TimeoutError:
            raise ApiError(
                408, f"the upload did not arrive within {limits.request_timeout:g} s"
            ) from None

    @app.post(
        "/api/transcribe",
        response_model=TranscribeResult,
        responses=ERRORS,
        openapi_extra=upload_docs({"srt": {"type": "boolean", "default": False}}),
        summary="Transcribe an audio file: text, word times, spectrogram (and SRT)",
    )
    async def transcribe(
        request: Request,
        srt: bool = Query(False, description="also return SubRip subtitles"),
    ) -> dict[str, Any]:
        return await serve_task(request, "transcribe", srt)

    @app.post(
        "/api/classify",
        response_model=ClassifyResult,
        responses=ERRORS,
        openapi_extra=upload_docs({}),
        summary="Label the actions in a video (a timeline of windows for long ones)",
    )
    async def classify(request: Request) -> dict[str, Any]:
        return await serve_task(request, "classify")

    @app.post(
        "/api/caption",
        response_model=CaptionResult,
        responses=ERRORS,
        openapi_extra=upload_docs({}),
        summary="Caption a video, with the decoder's frames-by-words attention",
    )
    async def caption(request: Request) -> dict[str, Any]:
        return await serve_task(request, "caption")

    @app.get("/api/health", response_model=Health, summary="Loaded models, tasks and limits")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "tasks": {task: task not in models.missing for task in TASKS},
            "missing": models.missing,
            "models": models.describe(),
            "limits": limits.as_dict(),
            "busy": pool.in_progress(),
            "capacity": pool.capacity,
        }

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def run_work(run: Callable[..., dict], args: tuple, upload: Upload, folder: Path, models):
    """One task on a worker thread; a model's own one-line error becomes a 422 naming the
    client's file rather than the server's temporary path."""
    try:
        return run(models, *args)
    except AvseqError as err:
        message = str(err)
        for path in sorted(folder.glob("*"), key=lambda p: -len(str(p))):
            message = message.replace(str(path), upload.filename)
        message = message.replace(str(folder), upload.filename)
        # advice meant for training data ("remove it from the manifest") means nothing here
        raise ApiError(422, re.sub(r";[^;]*\bmanifests?\b[^;]*$", "", message)) from None


def run_server(
    speech_checkpoint: str | None,
    video_checkpoint: str | None,
    host: str,
    port: int,
    limits: ServerLimits,
    options: DecodeOptions,
    device: str = "auto",
) -> None:
    """Loads a copy of the models per worker and serves the app with uvicorn until stopped."""
    import torch
    import uvicorn

    # the workers share the cores: each gets its part for PyTorch's own threads
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // limits.workers))
    replicas = [
        load_predictors(speech_checkpoint, video_checkpoint, options, device)
        for _ in range(limits.workers)
    ]
    for task, why in replicas[0].missing.items():
        log.warning("/api/%s is not served: %s", task, why)
    app = create_app(replicas, limits)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)
