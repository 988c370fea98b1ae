"""Small helpers for the emulators' raw ASGI apps, and a server thread to run them.

Hypercorn serves them: HTTP/2 and HTTP/1.1 over TLS with ALPN, as the real sites.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Request:
    """One request as the emulator received it (headers in wire order, lower-case)."""

    method: str
    host: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    http_version: str
    client_port: int = 0  # the peer's port: through the proxy, its upstream connection's

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    @property
    def cookies(self) -> dict[str, str]:
        jar: dict[str, str] = {}
        for name, value in self.headers:
            if name == "cookie":
                parsed = SimpleCookie()
                parsed.load(value)
                jar.update({k: m.value for k, m in parsed.items()})
        return jar

    def json(self) -> Any:
        return json.loads(self.body)


async def read_request(scope: Scope, receive: Receive) -> Request:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
    host = next((v for k, v in headers if k in (":authority", "host")), "")
    return Request(
        method=scope["method"],
        host=host.split(":")[0],
        path=scope["path"],
        query=scope.get("query_string", b"").decode(),
        headers=headers,
        body=b"".join(chunks),
        http_version=scope.get("http_version", ""),
        client_port=int((scope.get("client") or ("", 0))[1]),
    )


async def respond(
    send: Send,
    status: int,
    body: bytes | str,
    *,
    content_type: str = "text/html; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    data = body.encode() if isinstance(body, str) else body
    await start(send, status, content_type=content_type, headers=headers)
    await send({"type": "http.response.body", "body": data})


async def start(
    send: Send,
    status: int,
    *,
    content_type: str,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    raw = [(b"content-type", content_type.encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})


@dataclass
class TLSFiles:
    certfile: Path
    keyfile: Path


@dataclass
class Server:
    """An ASGI app served on 127.0.0.1, port 0, by hypercorn in a thread of its own."""

    app: App
    tls: TLSFiles | None = None
    port: int = 0
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Server:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        config = HypercornConfig()
        config.bind = [f"fd://{os.dup(listener.fileno())}"]
        listener.close()
        if self.tls is not None:
            config.certfile = str(self.tls.certfile)
            config.keyfile = str(self.tls.keyfile)
        config.accesslog = None
        config.errorlog = logging.getLogger("tests.emulators")
        config.h2_max_concurrent_streams = 1000
        config.keep_alive_max_requests = 1_000_000
        config.backlog = 1024
        self._thread = threading.Thread(target=self._run, args=(config,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the emulator server did not start within 10s")
        return self

    def _run(self, config: HypercornConfig) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve(self.app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        asyncio.run(main())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
