"""ClientHello bytes built field by field, for parser and JA4 tests."""

from __future__ import annotations

from collections.abc import Sequence


def u16(value: int) -> bytes:
    return value.to_bytes(2)


def vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes) + data


def u16_list(values: Sequence[int], length_bytes: int = 2) -> bytes:
    return vector(b"".join(u16(v) for v in values), length_bytes)


def extension(kind: int, body: bytes = b"") -> tuple[int, bytes]:
    return kind, body


def sni(host: str) -> tuple[int, bytes]:
    name = b"\x00" + vector(host.encode(), 2)
    return 0, vector(name, 2)


def alpn(*protocols: bytes) -> tuple[int, bytes]:
    return 16, vector(b"".join(vector(p, 1) for p in protocols), 2)


def groups(*ids: int) -> tuple[int, bytes]:
    return 10, u16_list(ids)


def sigalgs(*ids: int) -> tuple[int, bytes]:
    return 13, u16_list(ids)


def versions(*ids: int) -> tuple[int, bytes]:
    return 43, u16_list(ids, 1)


def key_shares(*ids: int) -> tuple[int, bytes]:
    entries = b"".join(u16(g) + vector(bytes(32), 2) for g in ids)
    return 51, vector(entries, 2)


def client_hello(
    ciphers: Sequence[int],
    extensions: Sequence[tuple[int, bytes]],
    *,
    legacy_version: int = 0x0303,
    session_id: bytes = bytes(32),
    record_size: int | None = None,
) -> bytes:
    """TLS records carrying one ClientHello (split into records of ``record_size``)."""
    body = (
        u16(legacy_version)
        + bytes(range(32))
        + vector(session_id, 1)
        + u16_list(ciphers)
        + vector(b"\x00", 1)
        + vector(b"".join(u16(k) + vector(v, 2) for k, v in extensions), 2)
    )
    handshake = b"\x01" + len(body).to_bytes(3) + body
    size = record_size or len(handshake)
    return b"".join(
        b"\x16\x03\x01" + vector(handshake[i : i + size], 2) for i in range(0, len(handshake), size)
    )
