"""A forwarding proxy on loopback: how a browser goes through a proxy that wants a
user name and password, or speaks SOCKS5.

Chromium takes no proxy credentials on its command line or through CDP's browser
contexts, and a password on a command line is readable by every user of the machine
(``/proc/PID/cmdline``). So a harvest through ``http://user:pass@host:port`` (or
``https://``, ``socks5://``, ``socks5h://``) gives the browser ``http://127.0.0.1:PORT``
instead: this forwarder, which opens each CONNECT tunnel through the upstream with the
credentials and then relays bytes both ways. It never reads inside a tunnel: the site
sees the browser's own TLS. It lives as long as the harvest that started it.

SOCKS5 (RFC 1928, with RFC 1929's user name and password) resolves names as curl does,
so browser and client reach the same address: ``socks5`` here, ``socks5h`` at the proxy.

A tunnel the upstream fails is answered 502 to the browser, and the first failure is
kept as a typed ``ProxyFailed`` (``failure``) naming what happened, never the password.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import socket
import ssl
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

from storage import redact_url

from ._errors import ProxyFailed

__all__ = ["SCHEMES", "ProxyForwarder"]

logger = logging.getLogger("harvester")

_CONNECT_TIMEOUT = 30.0
SCHEMES = ("http", "https", "socks5", "socks5h")
# RFC 1928's reply codes, as a failed tunnel names them.
_SOCKS_REPLIES = {
    1: "general failure",
    2: "connection not allowed by its rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}
_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class ProxyForwarder:
    """``async with ProxyForwarder(upstream) as fwd``: ``fwd.url`` is the proxy to give
    the browser; ``fwd.failure`` the first tunnel the upstream failed, if any."""

    def __init__(self, upstream: str, *, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(
                f"not a proxy URL ({', '.join(SCHEMES)}) for the browser: {redact_url(upstream)}"
            )
        self._scheme = parts.scheme
        self._host = parts.hostname
        default_port = {"http": 80, "https": 443}.get(parts.scheme, 1080)
        self._port = parts.port or default_port
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._tls = ssl_context or ssl.create_default_context()
        self._user: bytes | None = None
        self._password = b""
        if parts.username is not None:
            self._user = unquote(parts.username).encode()
            self._password = unquote(parts.password or "").encode()
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
        except asyncio.CancelledError:
            # Only our own close cancels a tunnel: the task ends quietly, or asyncio's
            # server would log the cancellation as an error.
            pass
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
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise ProxyFailed(f"the browser asked for a tunnel to {target!r}", kind="refused")
        address = host
        if self._scheme == "socks5":
            address = await self._resolve(host, int(port))
        reader, writer = await self._dial()
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                if self._scheme.startswith("socks"):
                    await self._socks_connect(reader, writer, address, int(port), target)
                else:
                    await self._http_connect(reader, writer, target)
        except ProxyFailed:
            await _close(writer)
            raise
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await _close(writer)
            raise ProxyFailed(
                f"the proxy {self._shown} closed the connection instead of opening a tunnel "
                f"to {target}",
                kind="refused",
            ) from None
        return reader, writer

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the upstream itself (TLS for ``https``)."""
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                return await asyncio.open_connection(
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

    async def _resolve(self, host: str, port: int) -> str:
        """``host``'s address, resolved here (``socks5``: as curl does for that scheme)."""
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                found = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
        except (socket.gaierror, TimeoutError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) else "no answer"
            raise ProxyFailed(
                f"{host} does not resolve here ({reason}); a socks5 proxy is given addresses, "
                "use socks5h:// to let the proxy resolve names",
                kind="dns",
            ) from None
        return str(found[0][4][0])

    async def _http_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
    ) -> None:
        request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        if self._user is not None:
            secret = base64.b64encode(self._user + b":" + self._password).decode()
            request += f"Proxy-Authorization: Basic {secret}\r\n"
        writer.write((request + "\r\n").encode("latin-1"))
        await writer.drain()
        answer = await reader.readuntil(b"\r\n\r\n")
        status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        status = status_line.split(" ", 2)[1] if status_line.count(" ") >= 1 else ""
        if status == "200":
            return
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

    async def _socks_connect(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        address: str,
        port: int,
        target: str,
    ) -> None:
        """RFC 1928's CONNECT, after RFC 1929's user name and password when given."""
        methods = b"\x00\x02" if self._user is not None else b"\x00"
        writer.write(b"\x05" + bytes([len(methods)]) + methods)
        await writer.drain()
        version, method = await reader.readexactly(2)
        if version != 5:
            raise ProxyFailed(f"the proxy {self._shown} does not speak SOCKS5", kind="refused")
        if method == 0xFF:
            raise ProxyFailed(
                f"the proxy {self._shown} accepts none of our ways to log in"
                + ("" if self._user is not None else ": it wants a user name and password"),
                kind="auth",
            )
        if method == 2:
            if self._user is None:
                raise ProxyFailed(
                    f"the proxy {self._shown} wants a user name and password", kind="auth"
                )
            user, password = self._user[:255], self._password[:255]
            writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            await writer.drain()
            _, status = await reader.readexactly(2)
            if status != 0:
                raise ProxyFailed(
                    f"the proxy {self._shown} refused the credentials: check the user name "
                    "and password in the proxy URL",
                    kind="auth",
                )
        elif method != 0:
            raise ProxyFailed(
                f"the proxy {self._shown} chose a way to log in we did not offer", kind="refused"
            )
        writer.write(b"\x05\x01\x00" + _socks_address(address) + port.to_bytes(2, "big"))
        await writer.drain()
        _, reply, _, kind = await reader.readexactly(4)
        length = {1: 4, 4: 16}.get(kind)
        if length is None:
            length = (await reader.readexactly(1))[0]
        await reader.readexactly(length + 2)  # the bound address and port: unused
        if reply != 0:
            why = _SOCKS_REPLIES.get(reply, f"reply {reply}")
            raise ProxyFailed(
                f"the proxy {self._shown} refused a tunnel to {target} ({why})", kind="refused"
            )


def _socks_address(host: str) -> bytes:
    """RFC 1928's address field: an IPv4 or IPv6 address, else a name for the proxy."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        return b"\x03" + bytes([len(name)]) + name
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


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
