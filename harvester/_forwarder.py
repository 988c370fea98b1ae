"""A forwarding proxy on loopback: how a browser goes through a proxy that wants a
user name and password.

Chromium takes no proxy credentials on its command line or through CDP's browser
contexts, and a password on a command line is readable by every user of the machine
(``/proc/PID/cmdline``). So a harvest through ``http://user:pass@host:port`` (or
``https://``) gives the browser ``http://127.0.0.1:PORT`` instead: this forwarder, which
opens each CONNECT tunnel through the upstream with the credentials and then relays
bytes both ways. It never reads inside a tunnel: the site sees the browser's own TLS.
It lives as long as the harvest that started it.

A tunnel the upstream fails is answered 502 to the browser, and the first failure is
kept as a typed ``ProxyFailed`` (``failure``) naming what happened, never the password.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import ssl
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

from storage import redact_url

from ._errors import ProxyFailed

__all__ = ["ProxyForwarder"]

logger = logging.getLogger("harvester")

_CONNECT_TIMEOUT = 30.0
_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class ProxyForwarder:
    """``async with ProxyForwarder(upstream) as fwd``: ``fwd.url`` is the proxy to give
    the browser; ``fwd.failure`` the first tunnel the upstream failed, if any."""

    def __init__(self, upstream: str, *, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) proxy URL: {redact_url(upstream)}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._tls = ssl_context or ssl.create_default_context()
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        self._authorization = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if parts.username is not None
            else None
        )
        self._shown = redact_url(upstream)  # the upstream as logs and errors name it
        self._server: asyncio.Server | None = None
        self._tunnels: set[asyncio.Task[None]] = set()
        self.failure: ProxyFailed | None = None
        self.tunnels = 0  # opened through the upstream, for tests

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the forwarder is not started")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tunnels):
            task.cancel()
        for task in list(self._tunnels):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tunnels.add(task)
        try:
            await self._tunnel(reader, writer)
        finally:
            self._tunnels.discard(task)
            await _close(writer)

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        target = rest.split(" ")[0]
        if method != "CONNECT" or not target:
            # Every provider is HTTPS: the browser only ever asks for tunnels.
            writer.write(_BAD_GATEWAY)
            return
        try:
            up_reader, up_writer = await self._open(target)
        except ProxyFailed as failed:
            self.failure = self.failure or failed
            logger.warning("%s", failed)
            writer.write(_BAD_GATEWAY)
            return
        self.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            await _close(up_writer)

    async def _open(self, target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A tunnel to ``target`` through the upstream, or ``ProxyFailed``."""
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                up_reader, up_writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls else None,
                )
        except socket.gaierror as exc:
            raise ProxyFailed(
                f"the proxy {self._shown} cannot be reached: its name does not resolve "
                f"({exc.strerror or exc})",
                kind="dns",
            ) from None
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise ProxyFailed(
                f"the proxy {self._shown} cannot be reached: {_reason(exc)}", kind="unreachable"
            ) from None
        request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if self._authorization is not None:
            request += f"Proxy-Authorization: {self._authorization}\r\n"
        up_writer.write((request + "\r\n").encode("latin-1"))
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                await up_writer.drain()
                answer = await up_reader.readuntil(b"\r\n\r\n")
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await _close(up_writer)
            raise ProxyFailed(
                f"the proxy {self._shown} closed the connection instead of opening a tunnel "
                f"to {target}",
                kind="refused",
            ) from None
        status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        status = status_line.split(" ", 2)[1] if status_line.count(" ") >= 1 else ""
        if status == "200":
            return up_reader, up_writer
        await _close(up_writer)
        if status == "407":
            raise ProxyFailed(
                f"the proxy {self._shown} refused the credentials (407): check the user "
                "name and password in the proxy URL",
                kind="auth",
            )
        raise ProxyFailed(
            f"the proxy {self._shown} refused a tunnel to {target} ({status_line[:80]})",
            kind="refused",
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {_CONNECT_TIMEOUT:g}s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await writer.wait_closed()
