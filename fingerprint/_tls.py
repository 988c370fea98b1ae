"""A TLS ClientHello, read from the raw bytes a client sends first.

Only what fingerprints need is decoded: versions, cipher suites, every extension in
wire order, and the contents of the extensions that tell browsers apart (groups, key
shares, signature algorithms, ALPN, ALPS, certificate compression, trust anchors).
Bad input raises ``HelloError`` with what was wrong; the parser never reads past the
buffer and never loops on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import HelloError, HelloIncomplete
from .extensions import (
    EXT_ALPN,
    EXT_ALPS,
    EXT_ALPS_OLD,
    EXT_COMPRESS_CERTIFICATE,
    EXT_DELEGATED_CREDENTIALS,
    EXT_EC_POINT_FORMATS,
    EXT_ECH,
    EXT_KEY_SHARE,
    EXT_PADDING,
    EXT_PSK_MODES,
    EXT_RECORD_SIZE_LIMIT,
    EXT_SERVER_NAME,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    EXT_TRUST_ANCHORS,
)

__all__ = [
    "ClientHello",
    "hello_length",
    "is_grease",
    "parse_client_hello",
]

_HANDSHAKE = 0x16
_CLIENT_HELLO = 1
_RECORD_HEADER = 5
_MAX_RECORD = 16384 + 2048  # a TLSCiphertext may be up to 2^14 + 2048 bytes


def is_grease(value: int) -> bool:
    """Whether ``value`` is a GREASE codepoint (RFC 8701): 0x?a?a with equal bytes."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


@dataclass(frozen=True)
class ClientHello:
    """The decoded fields of one ClientHello; lists keep wire order, GREASE included."""

    record_version: int
    legacy_version: int
    session_id_length: int
    ciphers: tuple[int, ...]
    compression_methods: tuple[int, ...]
    extensions: tuple[int, ...]
    server_name: str | None = None
    supported_versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    key_shares: tuple[int, ...] = ()
    point_formats: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    alpn: tuple[bytes, ...] = ()
    alps: tuple[bytes, ...] = ()
    cert_compression: tuple[int, ...] = ()
    psk_modes: tuple[int, ...] = ()
    trust_anchors: tuple[bytes, ...] = ()
    record_size_limit: int | None = None
    delegated_credentials: tuple[int, ...] = ()
    padding_length: int | None = None
    ech: bytes | None = None  # the whole encrypted_client_hello body when present


def hello_length(data: bytes) -> int:
    """How many bytes of ``data`` the ClientHello takes, record headers included.

    Raises ``HelloIncomplete`` when more bytes are needed, ``HelloError`` when the
    bytes cannot start a ClientHello.
    """
    return _handshake_bytes(data)[2]


def parse_client_hello(data: bytes) -> ClientHello:
    """Decode the ClientHello at the start of ``data`` (TLS records, as on the wire)."""
    body, record_version, _ = _handshake_bytes(data)
    return _parse_body(body, record_version)


def _handshake_bytes(data: bytes) -> tuple[bytes, int, int]:
    """The ClientHello's handshake body, joined from as many records as it spans;
    the first record's version; the bytes consumed."""
    fragments = bytearray()
    offset = 0
    record_version = 0
    needed: int | None = None
    while needed is None or len(fragments) < needed:
        if len(data) - offset < _RECORD_HEADER:
            raise HelloIncomplete("the TLS record header is incomplete")
        kind = data[offset]
        if kind != _HANDSHAKE:
            if offset == 0 and data[:4] in (b"GET ", b"POST", b"HEAD", b"PRI "):
                raise HelloError("this is plain HTTP, not TLS")
            raise HelloError(f"expected a TLS handshake record, got content type {kind}")
        version = int.from_bytes(data[offset + 1 : offset + 3])
        if version >> 8 != 3:
            raise HelloError(f"unknown TLS record version 0x{version:04x}")
        length = int.from_bytes(data[offset + 3 : offset + 5])
        if length == 0 or length > _MAX_RECORD:
            raise HelloError(f"a TLS record of {length} bytes is not valid here")
        record_version = record_version or version
        start = offset + _RECORD_HEADER
        if len(data) < start + length:
            raise HelloIncomplete("the TLS record is incomplete")
        fragments += data[start : start + length]
        offset = start + length
        if needed is None and len(fragments) >= 4:
            if fragments[0] != _CLIENT_HELLO:
                raise HelloError(f"expected a ClientHello, got handshake type {fragments[0]}")
            needed = 4 + int.from_bytes(fragments[1:4])
    assert needed is not None
    return bytes(fragments[4:needed]), record_version, offset


class _Reader:
    """Bounds-checked reads over one buffer; every overrun is a ``HelloError``."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise HelloError(f"{self.what} is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2))

    def vector(self, length_bytes: int) -> _Reader:
        size = int.from_bytes(self.take(length_bytes))
        return _Reader(self.take(size), self.what)

    def u16s(self) -> tuple[int, ...]:
        if self.left() % 2:
            raise HelloError(f"{self.what} has an odd length")
        return tuple(self.u16() for _ in range(self.left() // 2))

    def strings(self, length_bytes: int = 1) -> tuple[bytes, ...]:
        out = []
        while self.left():
            out.append(self.vector(length_bytes).data)
        return tuple(out)

    def end(self) -> None:
        if self.left():
            raise HelloError(f"{self.what} has {self.left()} bytes too many")


def _parse_body(body: bytes, record_version: int) -> ClientHello:
    r = _Reader(body, "the ClientHello")
    legacy_version = r.u16()
    r.take(32)  # random
    session_id = r.vector(1)
    if session_id.left() > 32:
        raise HelloError("the ClientHello's session id is longer than 32 bytes")
    ciphers = r.vector(2)
    if not ciphers.left():
        raise HelloError("the ClientHello offers no cipher suite")
    cipher_list = ciphers.u16s()
    compression = r.vector(1).data
    fields: dict[str, object] = {}
    extensions: list[int] = []
    if r.left():
        block = r.vector(2)
        r.end()
        seen: set[int] = set()
        while block.left():
            kind = block.u16()
            data = block.vector(2)
            if kind in seen:
                raise HelloError(f"the ClientHello repeats extension {kind}")
            seen.add(kind)
            extensions.append(kind)
            data.what = f"extension {kind}"
            _read_extension(kind, data, fields)
    return ClientHello(
        record_version=record_version,
        legacy_version=legacy_version,
        session_id_length=len(session_id.data),
        ciphers=cipher_list,
        compression_methods=tuple(compression),
        extensions=tuple(extensions),
        **fields,  # type: ignore[arg-type]
    )


def _read_extension(kind: int, r: _Reader, fields: dict[str, object]) -> None:
    """Decode one extension's body into ``fields`` (unknown ones are kept by type only)."""
    if kind == EXT_SERVER_NAME and r.left():
        names = r.vector(2)
        r.end()
        while names.left():
            name_type = names.u8()
            name = names.vector(2).data
            if name_type == 0 and "server_name" not in fields:
                fields["server_name"] = name.decode("ascii", "replace")
    elif kind == EXT_SUPPORTED_GROUPS:
        fields["groups"] = _whole(r.vector(2), r).u16s()
    elif kind == EXT_EC_POINT_FORMATS:
        fields["point_formats"] = tuple(_whole(r.vector(1), r).data)
    elif kind == EXT_SIGNATURE_ALGORITHMS:
        fields["signature_algorithms"] = _whole(r.vector(2), r).u16s()
    elif kind == EXT_ALPN:
        fields["alpn"] = _whole(r.vector(2), r).strings(1)
    elif kind in (EXT_ALPS, EXT_ALPS_OLD):
        fields["alps"] = _whole(r.vector(2), r).strings(1)
    elif kind == EXT_COMPRESS_CERTIFICATE:
        fields["cert_compression"] = _whole(r.vector(1), r).u16s()
    elif kind == EXT_SUPPORTED_VERSIONS:
        fields["supported_versions"] = _whole(r.vector(1), r).u16s()
    elif kind == EXT_PSK_MODES:
        fields["psk_modes"] = tuple(_whole(r.vector(1), r).data)
    elif kind == EXT_KEY_SHARE:
        shares = _whole(r.vector(2), r)
        groups = []
        while shares.left():
            groups.append(shares.u16())
            shares.vector(2)
        fields["key_shares"] = tuple(groups)
    elif kind == EXT_TRUST_ANCHORS:
        fields["trust_anchors"] = _whole(r.vector(2), r).strings(1)
    elif kind == EXT_RECORD_SIZE_LIMIT:
        fields["record_size_limit"] = r.u16()
        r.end()
    elif kind == EXT_DELEGATED_CREDENTIALS:
        fields["delegated_credentials"] = _whole(r.vector(2), r).u16s()
    elif kind == EXT_PADDING:
        fields["padding_length"] = r.left()
    elif kind == EXT_ECH:
        fields["ech"] = r.data


def _whole(inner: _Reader, outer: _Reader) -> _Reader:
    """``inner`` after checking it was all of ``outer`` (a vector filling its extension)."""
    outer.end()
    return inner
