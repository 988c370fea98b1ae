"""The fingerprint endpoint: a local TLS server that records how each client opens.

It listens on 127.0.0.1 (port 0; ``bind``: another address, for a browser on another
machine) under the name ``localhost`` (``host``: the name that browser reaches it by)
with a throwaway certificate made at start; Chromium is told to accept that one key
only (``--ignore-certificate-errors-spki-list``; a browser we attach to, already
running, is told through its capture page's DevTools session instead). A second port
with the same certificate offers only HTTP/1.1, as some sites do, to see what Chromium
sends there. Each connection is read raw: the ClientHello before the handshake, then
the HTTP/2 opening (or an HTTP/1.1 request). What it saw is answered as JSON and kept
per path token for ``capture`` to return.

Connections are served on threads with socket timeouts: a client that sends garbage,
stops half-way or never closes costs one thread for at most ``_IO_TIMEOUT`` and gets
an error recorded, never a hang of the caller.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import logging
import os
import secrets
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import anyio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fingerprint import (
    ClientHello,
    Fingerprint,
    H2Error,
    H2Incomplete,
    HelloError,
    HelloIncomplete,
    encode_headers,
    hello_length,
    parse_client_hello,
    parse_h2_opening,
)

__all__ = ["Capture", "FingerprintEndpoint"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

HOST = "localhost"
_IO_TIMEOUT = 10.0
_MAX_OPENING = 256 * 1024  # a hello plus an HTTP/2 opening are a few KiB; more is hostile
_H2_SETTINGS, _H2_HEADERS, _H2_DATA, _H2_GOAWAY = 4, 1, 0, 7


@dataclass(frozen=True)
class Capture:
    """One connection as the endpoint saw it."""

    fingerprint: Fingerprint
    hello: bytes  # the raw ClientHello records, for test data and bug reports
    path: str


class FingerprintEndpoint:
    """A TLS server on loopback that fingerprints whoever connects.

    ``async with FingerprintEndpoint() as ep``: ``ep.url(token)`` is a page to open;
    ``await ep.capture(token)`` returns what that visit looked like.
    """

    def __init__(
        self,
        *,
        protocols: Sequence[str] = ("h2", "http/1.1"),
        bind: str = "127.0.0.1",
        host: str = HOST,
    ) -> None:
        self.protocols = tuple(protocols)  # ALPN offered: ("http/1.1",) for an HTTP/1.1 site
        self.bind = bind
        self.host = host
        self._context: ssl.SSLContext | None = None  # the main port's
        self.certificate_pem = b""
        self.spki_hash = ""
        self._socks: list[socket.socket] = []  # the main port, then the HTTP/1.1-only one
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._captures: dict[str, list[Capture]] = {}
        self._waiters: dict[str, list[Callable[[], None]]] = {}
        self.errors: list[str] = []  # what malformed connections were refused for
        self._closed = threading.Event()

    @property
    def browser_args(self) -> list[str]:
        """Chromium flags that make it accept this endpoint's certificate (and no other)."""
        return [f"--ignore-certificate-errors-spki-list={self.spki_hash}"]

    @property
    def port(self) -> int:
        return self._port(0)

    @property
    def http1_port(self) -> int:
        """The port that offers only HTTP/1.1."""
        return self._port(1)

    def _port(self, index: int) -> int:
        if not self._socks:
            raise RuntimeError("the fingerprint endpoint is not started")
        return int(self._socks[index].getsockname()[1])

    def url(self, token: str, *, http1: bool = False) -> str:
        """A page that records its visit under ``token``; ``http1``: on the HTTP/1.1 port."""
        port = self.http1_port if http1 else self.port
        return f"https://{self.host}:{port}/fingerprint/{token}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(8)

    async def __aenter__(self) -> FingerprintEndpoint:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.close)

    def start(self) -> None:
        """Make the key and certificate and start serving (blocking: call it on a thread)."""
        key = ec.generate_private_key(ec.SECP256R1())
        chain, spki, self.certificate_pem = _certificate(key)
        self.spki_hash = base64.b64encode(hashlib.sha256(spki).digest()).decode()
        for protocols in (self.protocols, ("http/1.1",)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.bind, 0))
            sock.listen(64)
            self._socks.append(sock)
            context = _server_context(chain, protocols)
            self._context = self._context or context
            thread = threading.Thread(
                target=self._accept, args=(sock, context), name="fingerprint-endpoint"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop accepting and wait for the accept thread (blocking: call it on a thread)."""
        self._closed.set()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def captures(self, token: str) -> list[Capture]:
        """Every connection whose first request carried ``token``, oldest first."""
        with self._lock:
            return list(self._captures.get(token, ()))

    async def capture(self, token: str, *, count: int = 1, within: float = 15.0) -> list[Capture]:
        """Wait until ``count`` connections carried ``token``; ``TimeoutError`` if not."""
        loop = asyncio.get_running_loop()
        arrived = anyio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(arrived.set)

        with anyio.fail_after(within):
            while True:
                with self._lock:
                    if len(self._captures.get(token, ())) >= count:
                        return list(self._captures[token])
                    self._waiters.setdefault(token, []).append(wake)
                await arrived.wait()
                arrived = anyio.Event()

    # -- the server side, on threads ---------------------------------------------------

    def _accept(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn, context), daemon=True)
            worker.start()

    def _serve(self, conn: socket.socket, context: ssl.SSLContext) -> None:
        conn.settimeout(_IO_TIMEOUT)
        try:
            with conn:
                capture = self._read(conn, context)
            if capture is not None:
                self._record(capture)
        except (OSError, ssl.SSLError, HelloError, H2Error, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            logger.debug("fingerprint endpoint: refused a connection: %s", reason)
            with self._lock:
                self.errors.append(reason)

    def _read(self, conn: socket.socket, context: ssl.SSLContext) -> Capture | None:
        raw = bytearray()
        size = _complete(hello_length, bytes(raw))
        while size is None:
            if len(raw) > _MAX_OPENING:
                raise HelloError("the ClientHello is implausibly long")
            chunk = conn.recv(65536)
            if not chunk:
                raise HelloError("the client closed before its ClientHello was complete")
            raw += chunk
            size = _complete(hello_length, bytes(raw))
        hello_bytes = bytes(raw[:size])
        hello = parse_client_hello(hello_bytes)
        tls = _TlsStream(conn, context, bytes(raw))
        tls.handshake()
        if tls.alpn == "h2":
            fingerprint, path, answer = self._read_h2(tls, hello)
        else:
            fingerprint, path, answer = self._read_http1(tls, hello)
        capture = Capture(fingerprint, hello_bytes, path)
        answer(_summary(fingerprint))
        return capture

    def _read_h2(
        self, tls: _TlsStream, hello: ClientHello
    ) -> tuple[Fingerprint, str, Callable[[bytes], None]]:
        data = bytearray()
        opening = _complete(parse_h2_opening, b"")
        while opening is None:
            if len(data) > _MAX_OPENING:
                raise H2Error("the HTTP/2 opening is implausibly long")
            data += tls.recv()
            opening = _complete(parse_h2_opening, bytes(data))
        fingerprint = Fingerprint.from_wire(hello, opening=opening)
        path = dict(opening.headers).get(":path", "")

        def answer(body: bytes) -> None:
            stream = opening.stream
            block = encode_headers(
                [
                    (":status", "200"),
                    ("content-type", "application/json"),
                    ("content-length", str(len(body))),
                    ("cache-control", "no-store"),
                ]
            )
            tls.send(
                _frame(_H2_SETTINGS, 0, 0, b"")
                + _frame(_H2_SETTINGS, 0x1, 0, b"")
                + _frame(_H2_HEADERS, 0x4, stream, block)
                + _frame(_H2_DATA, 0x1, stream, body)
                + _frame(_H2_GOAWAY, 0, 0, stream.to_bytes(4) + bytes(4))
            )
            tls.close()

        return fingerprint, path, answer

    def _read_http1(
        self, tls: _TlsStream, hello: ClientHello
    ) -> tuple[Fingerprint, str, Callable[[bytes], None]]:
        data = bytearray()
        while b"\r\n\r\n" not in data:
            if len(data) > _MAX_OPENING:
                raise ValueError("the HTTP/1.1 request head is implausibly long")
            data += tls.recv()
        head = bytes(data).split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = head.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            raise ValueError("the HTTP/1.1 request line is malformed")
        headers = []
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError("an HTTP/1.1 header line has no colon")
            headers.append((name.strip(), value.strip()))
        fingerprint = Fingerprint.from_wire(hello, http1_headers=headers)

        def answer(body: bytes) -> None:
            tls.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n".encode()
                + b"connection: close\r\ncache-control: no-store\r\n\r\n"
                + body
            )
            tls.close()

        return fingerprint, parts[1], answer

    def _record(self, capture: Capture) -> None:
        token = _token(capture.path)
        if token is None:
            return
        with self._lock:
            self._captures.setdefault(token, []).append(capture)
            waiters = self._waiters.pop(token, [])
        for wake in waiters:
            wake()


class _TlsStream:
    """TLS over a socket whose first bytes were already read (we parsed the hello)."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, already: bytes) -> None:
        self._sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_side=True)
        self._in.write(already)
        self.alpn: str | None = None

    def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()
        self.alpn = self._tls.selected_alpn_protocol()

    def recv(self) -> bytes:
        while True:
            try:
                data = self._tls.read(65536)
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
                continue
            if not data:
                raise ValueError("the client closed before its request was complete")
            return data

    def send(self, data: bytes) -> None:
        self._tls.write(data)
        self._flush()

    def close(self) -> None:
        with contextlib.suppress(ssl.SSLError, OSError):
            self._tls.unwrap()
        with contextlib.suppress(OSError):
            self._flush()

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ValueError("the client closed the connection during TLS")
        self._in.write(chunk)

    def _flush(self) -> None:
        pending = self._out.read()
        if pending:
            self._sock.sendall(pending)


def _complete(parse: Callable[[bytes], _T], data: bytes) -> _T | None:
    """``parse(data)``, or None while the data is only the start of what it reads."""
    try:
        return parse(data)
    except (HelloIncomplete, H2Incomplete):
        return None


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3) + bytes([kind, flags]) + stream.to_bytes(4) + payload


def _token(path: str) -> str | None:
    prefix = "/fingerprint/"
    if not path.startswith(prefix):
        return None
    token = path[len(prefix) :].split("?", 1)[0].split("/", 1)[0]
    return token or None


def _summary(fingerprint: Fingerprint) -> bytes:
    return json.dumps(
        {
            "ja4": fingerprint.ja4,
            "ja3_sorted": fingerprint.ja3_sorted,
            "akamai": fingerprint.akamai,
            "header_order": list(fingerprint.header_order),
        },
        indent=2,
    ).encode()


def _certificate(key: ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes, bytes]:
    """A one-day self-signed certificate for ``localhost``: the key and certificate as
    one PEM (for the server), the key's SubjectPublicKeyInfo, the certificate's PEM (for
    a client to trust)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate = cert.public_bytes(serialization.Encoding.PEM)
    chain = (
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return chain, spki, certificate


def _server_context(chain: bytes, protocols: Sequence[str]) -> ssl.SSLContext:
    """A TLS server context serving ``chain`` (key and certificate, PEM) with ALPN
    ``protocols``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(list(protocols))
    # ssl loads keys from files only: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="session-harvest-fp-") as tmp:
        pem = Path(tmp) / "endpoint.pem"
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(chain)
        context.load_cert_chain(pem)
    return context
