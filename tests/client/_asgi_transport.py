"""The client's transport seam served in-process by the emulators (no TLS, proxy or
browser): the same ASGI apps the rig serves over HTTP/2, called directly, as httpx's
``ASGITransport`` does. A body cut short of its ``content-length`` fails as curl fails."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from client import NetworkError
from storage import Credential

from ..emulators._asgi import App


class ASGIReply:
    """One answer of an emulator, its body read as the app sends it."""

    def __init__(
        self, url: str, start: Mapping[str, Any], body: MemoryObjectReceiveStream[Any]
    ) -> None:
        self.url = url
        self.status: int = start["status"]
        self._headers = [(k.decode().lower(), v.decode()) for k, v in start["headers"]]
        self._body = body

    def header(self, name: str) -> str | None:
        return next(iter(self.header_list(name)), None)

    def header_list(self, name: str) -> list[str]:
        return [v for k, v in self._headers if k == name.lower()]

    async def chunks(self) -> AsyncIterator[bytes]:
        promised = self.header("content-length")
        received = 0
        async for message in self._body:
            data = message.get("body", b"")
            received += len(data)
            if data:
                yield data
            if not message.get("more_body"):
                break
        if promised is not None and received < int(promised):
            raise NetworkError(f"{self.url}: the body ended {int(promised) - received} short")

    async def body(self, limit: int = 64 * 1024) -> bytes:
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)[:limit]


class ASGITransport:
    """Routes each request by host name to its emulator; counts the requests sent."""

    def __init__(self, apps: Mapping[str, App]) -> None:
        self._apps = apps
        self.sent = 0

    @contextlib.asynccontextmanager
    async def request(
        self,
        credential: Credential,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> AsyncIterator[ASGIReply]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        app = self._apps[host]
        self.sent += 1
        scope = {
            "type": "http",
            "http_version": "2",
            "method": method,
            "path": parts.path,
            "query_string": parts.query.encode(),
            "headers": [(b":authority", host.encode())]
            + [(k.encode(), v.encode()) for k, v in headers],
            "client": ("127.0.0.1", 0),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await anyio.sleep_forever()
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}

        to_client, from_app = anyio.create_memory_object_stream[Any](math.inf)

        async def run() -> None:
            async with to_client:
                await app(scope, receive, to_client.send)

        try:
            async with anyio.create_task_group() as group, from_app:
                group.start_soon(run)
                start = await from_app.receive()
                try:
                    yield ASGIReply(url, start, from_app)
                finally:
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:
            # The caller's error (a typed client error) passed through the task group:
            # give it back as itself, as a real transport would.
            if len(errors.exceptions) == 1:
                raise errors.exceptions[0] from None
            raise

    async def aclose(self) -> None:
        return None
