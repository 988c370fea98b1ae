"""A CONNECT proxy that maps real host names to local emulators, and nothing else (and
a SOCKS5 proxy that does the same, for harvests and chats through ``socks5h://``).

``CONNECT playground.ai.cloudflare.com:443`` is tunnelled to the emulator registered
for that host; any other host gets 502, so no test can reach a real site by accident.
TLS runs end to end through the tunnel, as through a real proxy. The proxy reads the
ClientHello as it passes (like a TLS-terminating front such as Cloudflare's edge sees
it) and keeps each tunnel's JA4 by the local port of its upstream connection, which is
the client port the emulator sees: ``ja4_for(port)`` (without the extensions only a
resumed handshake carries).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Self

from fingerprint import Fingerprint, HelloError, HelloIncomplete, hello_length, parse_client_hello

_RESUMPTION = frozenset({41, 42})  # pre_shared_key, early_data


@dataclass
class _Threaded:
    """A server on 127.0.0.1, port 0, in a thread of its own (``_handle`` serves)."""

    port: int = field(default=0, kw_only=True)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, kw_only=True)
    _server: asyncio.Server | None = field(default=None, kw_only=True)
    _thread: threading.Thread | None = field(default=None, kw_only=True)
    _lock: threading.Lock = field(default_factory=threading.Lock, kw_only=True)

    def start(self) -> Self:
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._server.serve_forever()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start within 10s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            for task in asyncio.all_tasks(self._loop):
                self._loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class ConnectProxy(_Threaded):
    """The CONNECT proxy."""

    routes: dict[str, int] = field(default_factory=dict)  # host -> local port
    connects: list[str] = field(default_factory=list)  # "host:port" of every CONNECT
    refused: list[str] = field(default_factory=list)
    hellos: dict[int, Fingerprint] = field(default_factory=dict)  # upstream port -> hello
    # When set, a CONNECT needs ``Proxy-Authorization: Basic`` of this (user, password),
    # as residential and datacenter proxies do; without it the answer is 407.
    credentials: tuple[str, str] | None = None
    authorized: int = 0  # CONNECTs that carried the right credentials

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        method, _, target = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        target = target.split(" ")[0]
        if self.credentials is not None:
            user, password = self.credentials
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            lines = head.decode("latin-1").split("\r\n")[1:]
            given = [v.strip() for k, _, v in (h.partition(":") for h in lines)
                     if k.strip().lower() == "proxy-authorization"]  # fmt: skip
            if given != [expected]:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'proxy-authenticate: Basic realm="rig"\r\ncontent-length: 0\r\n\r\n'
                )
                await _close(writer)
                return
            with self._lock:
                self.authorized += 1
        host, _, port = target.rpartition(":")
        with self._lock:
            local = self.routes.get(host.lower()) if port == "443" else None
            (self.connects if local else self.refused).append(target)
        if method != "CONNECT" or local is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            await _close(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", local)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            await _close(writer)
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        port = up_writer.get_extra_info("sockname")[1]
        await asyncio.gather(self._pipe_hello(reader, up_writer, port), _pipe(up_reader, writer))

    def ja4_for(self, port: int) -> str | None:
        """The JA4 of the tunnel whose upstream connection has local port ``port``."""
        with self._lock:
            hello = self.hellos.get(port)
        return hello.ja4 if hello is not None else None

    async def _pipe_hello(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        """Forward the client's bytes, reading its ClientHello on the way."""
        seen = bytearray()
        try:
            while data := await reader.read(65536):
                seen += data
                # Recorded before the hello's last bytes go on: the server sees it after.
                done = self._read_hello(bytes(seen), port)
                writer.write(data)
                await writer.drain()
                if done:
                    break
            else:
                await _close(writer)
                return
        except (ConnectionError, asyncio.CancelledError):
            await _close(writer)
            return
        await _pipe(reader, writer)

    def _read_hello(self, seen: bytes, port: int) -> bool:
        """Record the tunnel's hello once complete; True when there is no more to read."""
        try:
            hello = parse_client_hello(seen[: hello_length(seen)])
        except HelloIncomplete:
            return len(seen) > 65536
        except HelloError:
            return True  # not TLS: passed on as it is, the emulator will refuse it
        fingerprint = Fingerprint.from_wire(hello)
        # A resumed handshake adds pre_shared_key (and maybe early_data); the client is
        # the same one, so the JA4 it is known by leaves them out, as an edge must.
        fingerprint = dataclasses.replace(
            fingerprint, extensions=tuple(e for e in fingerprint.extensions if e not in _RESUMPTION)
        )
        with self._lock:
            self.hellos[port] = fingerprint
        return True


@dataclass
class SocksProxy(_Threaded):
    """A SOCKS5 proxy (RFC 1928) to the emulators: names in ``routes`` on port 443, and
    loopback addresses (what a client that resolves names itself sends); with
    ``credentials``, only RFC 1929's user name and password get in."""

    routes: dict[str, int] = field(default_factory=dict)  # host -> local port
    credentials: tuple[str, str] | None = None
    connects: list[str] = field(default_factory=list)  # "name:port" or "address:port"
    refused: list[str] = field(default_factory=list)
    authorized: int = 0  # logins with the right credentials

    def url(self, scheme: str = "socks5h") -> str:
        login = ":".join(self.credentials) + "@" if self.credentials else ""
        return f"{scheme}://{login}127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            local = await self._negotiate(reader, writer)
            if local is None:
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", local)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            await _close(writer)
            return
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + bytes(2))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def _negotiate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> int | None:
        """The greeting, the login and the request: the local port, or ``None`` (answered)."""
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        wanted = 0 if self.credentials is None else 2
        if version != 5 or wanted not in methods:
            writer.write(b"\x05\xff")
            await _close(writer)
            return None
        writer.write(bytes([5, wanted]))
        if self.credentials is not None:
            _, length = await reader.readexactly(2)
            user = (await reader.readexactly(length)).decode()
            (length,) = await reader.readexactly(1)
            password = (await reader.readexactly(length)).decode()
            if (user, password) != self.credentials:
                writer.write(b"\x01\x01")
                await _close(writer)
                return None
            writer.write(b"\x01\x00")
            with self._lock:
                self.authorized += 1
        _, command, _, kind = await reader.readexactly(4)
        if kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode("idna")
        else:
            host = str(ipaddress.ip_address(await reader.readexactly(4 if kind == 1 else 16)))
        port = int.from_bytes(await reader.readexactly(2), "big")
        local: int | None = None
        if kind == 3:
            local = self.routes.get(host.lower()) if port == 443 else None
        elif ipaddress.ip_address(host).is_loopback:
            local = port
        with self._lock:
            (self.connects if local and command == 1 else self.refused).append(f"{host}:{port}")
        if command != 1 or local is None:
            reply = 7 if command != 1 else 4  # command not supported; host unreachable
            writer.write(bytes([5, reply, 0, 1]) + bytes(6))
            await _close(writer)
            return None
        return local


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await writer.wait_closed()
