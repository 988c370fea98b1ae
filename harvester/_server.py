"""The OpenAI-compatible HTTP API of ``harvest serve`` (the one importer of FastAPI and
Starlette). Routes are thin: ``_service`` does the work, ``_api`` holds the shapes.

An answer runs inside its response: it waits for the first event before the response
head goes out (so an error before any text gets its real status), sends text as it
arrives, and a client that disconnects cancels the upstream request at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from ._api import (
    ApiError,
    completion_json,
    error_for,
    parse_chat,
    parse_image,
    parse_json,
    sse_frames,
)
from ._metrics import CONTENT_TYPE
from ._service import Service

__all__ = ["MAX_BODY", "create_api"]

logger = logging.getLogger("harvester.serve")

MAX_BODY = 4 * 1024 * 1024
_SSE_HEADERS = {
    # Nothing between here and the caller may hold text back: no cache, no proxy
    # buffering (nginx reads X-Accel-Buffering), and no compression is ever applied.
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


def create_api(service: Service, *, api_keys: Sequence[str], max_body: int = MAX_BODY) -> FastAPI:
    """The ASGI app. With ``api_keys``, ``/v1/*`` and ``/metrics`` need one of them as
    a bearer token."""
    api = FastAPI(title="session-harvest", docs_url=None, redoc_url=None, openapi_url=None)
    keys = [key.encode() for key in api_keys]

    # Called first in each guarded route: a FastAPI dependency would cost a thread hop
    # per request (sync dependencies run in a thread pool).
    def authorized(request: Request) -> None:
        if keys and not _bearer_matches(request.headers.get("authorization"), keys):
            raise ApiError(
                401,
                "missing or wrong API key: send `Authorization: Bearer KEY` with a key from "
                "[server] api_keys or HARVEST_API_KEY",
                "invalid_request_error",
                "invalid_api_key",
            )

    async def body_of(request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            raise _too_large(max_body)
        parts, size = [], 0
        async for part in request.stream():
            size += len(part)
            if size > max_body:
                raise _too_large(max_body)
            parts.append(part)
        return parse_json(b"".join(parts))

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz() -> JSONResponse:
        ready, body = await service.readiness()
        return JSONResponse(body, status_code=200 if ready else 503)

    @api.get("/metrics")
    async def metrics(request: Request) -> Response:
        authorized(request)
        return Response(await service.metrics_text(), media_type=CONTENT_TYPE)

    @api.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        authorized(request)
        return {"object": "list", "data": await service.models()}

    @api.get("/v1/models/{ident:path}")
    async def model(request: Request, ident: str) -> dict[str, Any]:
        authorized(request)
        return await service.model(ident)

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        authorized(request)
        params = parse_chat(await body_of(request))
        if params.stream:

            async def frames() -> AsyncIterator[bytes]:
                model, events = await service.chat(params)
                async for frame in sse_frames(events, model, include_usage=params.include_usage):
                    yield frame

            return _Answer(frames, "text/event-stream; charset=utf-8", _SSE_HEADERS)

        async def whole() -> AsyncIterator[bytes]:
            yield _json(completion_json(await service.completion(params)))

        return _Answer(whole, "application/json")

    @api.post("/v1/images/generations")
    async def images(request: Request) -> Response:
        authorized(request)
        params = parse_image(await body_of(request))

        async def whole() -> AsyncIterator[bytes]:
            yield _json(await service.image(params))

        return _Answer(whole, "application/json")

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return _error_response(ApiError(exc.status_code, message))

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = ApiError(400, "the request is malformed", code="invalid_request_error")
        return _error_response(error)

    @api.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        error = error_for(exc)
        if error.status >= 500 and error.code is None:
            logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error_response(error)

    return api


def _bearer_matches(header: str | None, keys: list[bytes]) -> bool:
    scheme, _, token = (header or "").partition(" ")
    given = token.strip().encode("utf-8", "replace")
    matched = False
    for key in keys:  # every key compared, in constant time each: no early exit to time
        matched |= hmac.compare_digest(given, key)
    return matched and scheme.lower() == "bearer"


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"the request body is over {limit} bytes", "invalid_request_error", "request_too_large"
    )


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class _Answer(Response):
    """A response whose head waits for its first piece; see the module's docstring."""

    def __init__(
        self,
        produce: Callable[[], AsyncIterator[bytes]],
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(media_type=media_type, headers=headers)
        # The length is not known before the end: the body goes out chunked.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._produce = produce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A watcher task cancels this one when the client goes away. Plain asyncio (the
        # loop uvicorn runs): an anyio task group per answer cost a measurable share of
        # the server's time under load (scripts/bench_server.py).
        answering = asyncio.current_task()
        assert answering is not None
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, answering, gone))
        try:
            await self._answer(scope, send)
        except asyncio.CancelledError:
            if not gone.is_set():
                raise  # cancelled from outside (the server is stopping)
            answering.uncancel()  # ours: the client left, the upstream request is closed
        finally:
            watcher.cancel()

    async def _answer(self, scope: Scope, send: Send) -> None:
        pieces = _Pieces(self._produce())
        try:
            try:
                first = await pieces.first()
            except Exception as exc:
                error = error_for(exc)
                if error.status >= 500 and error.code is None:
                    logger.error("an answer failed", exc_info=exc)
                await _error_response(error)(scope, _nothing, send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            body = first
            while body is not None:
                await send({"type": "http.response.body", "body": body, "more_body": True})
                body = await pieces.next_batch()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await pieces.aclose()


class _Pieces:
    """An answer's pieces, made by a task of their own: what is ready when the socket
    can take more goes out in one write. Nothing waits for a batch to fill: a piece
    that arrives alone goes alone; under load (several pieces from one upstream read,
    a busy loop) one write carries them all (measured: scripts/bench_server.py). At most
    ``_AHEAD`` pieces wait for a slow reader before the upstream read pauses."""

    _AHEAD = 256

    def __init__(self, pieces: AsyncIterator[bytes]) -> None:
        self._ready: list[bytes] = []
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._done = False
        self._error: BaseException | None = None
        self._task = asyncio.ensure_future(self._make(pieces))

    async def _make(self, pieces: AsyncIterator[bytes]) -> None:
        try:
            async with contextlib.aclosing(pieces):  # type: ignore[type-var]
                async for piece in pieces:
                    self._ready.append(piece)
                    self._arrived.set()
                    if len(self._ready) >= self._AHEAD:
                        self._room.clear()
                        await self._room.wait()
        except Exception as exc:
            self._error = exc
        finally:
            self._done = True
            self._arrived.set()

    async def _wait(self) -> None:
        while not self._ready and not self._done:
            self._arrived.clear()
            await self._arrived.wait()

    async def first(self) -> bytes | None:
        """The first piece (``None``: the answer is empty); its maker's error, raised."""
        await self._wait()
        if not self._ready and self._error is not None:
            raise self._error
        return self._take()

    async def next_batch(self) -> bytes | None:
        """Every piece ready now, joined (``None`` after the last)."""
        await self._wait()
        return self._take()

    def _take(self) -> bytes | None:
        if not self._ready:
            return None
        batch = b"".join(self._ready)
        self._ready.clear()
        self._room.set()
        return batch

    async def aclose(self) -> None:
        """Stop making pieces (the upstream request is closed with it)."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def _cancel_on_disconnect(
    receive: Receive, answering: asyncio.Task[Any], gone: asyncio.Event
) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    answering.cancel()


async def _nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}
