"""The opening of an HTTP/2 client connection: preface, SETTINGS, WINDOW_UPDATE,
PRIORITY frames and the first request's HEADERS, as a fingerprint sees them.

The only module that imports ``hpack`` (the header block is HPACK-compressed).
"""

from __future__ import annotations

from dataclasses import dataclass

from hpack import Decoder, Encoder
from hpack.exceptions import HPACKError

from ._errors import H2Error, H2Incomplete

__all__ = [
    "PREFACE",
    "H2Opening",
    "encode_headers",
    "parse_h2_opening",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME_HEADER = 9
_HEADERS, _PRIORITY, _SETTINGS, _WINDOW_UPDATE, _CONTINUATION = 1, 2, 4, 8, 9
_END_HEADERS, _PADDED, _PRIORITY_FLAG = 0x4, 0x8, 0x20
_MAX_FRAME = 1 << 16  # more than any opening frame needs; larger is hostile
_MAX_FRAMES = 64


@dataclass(frozen=True)
class H2Opening:
    """What a client sent before and with its first request."""

    settings: tuple[tuple[int, int], ...]
    window_update: int  # the connection-level increment, 0 when none was sent
    priority_frames: tuple[tuple[int, int, int, int], ...]  # stream, exclusive, dep, weight
    headers_priority: tuple[int, int, int] | None  # exclusive, dependency, weight (1-256)
    headers: tuple[tuple[str, str], ...]  # the first request's, pseudo-headers included
    stream: int  # the first request's stream id
    consumed: int  # bytes of the input the opening took


def parse_h2_opening(data: bytes) -> H2Opening:
    """Decode the client's opening up to its first complete HEADERS block."""
    if len(data) < len(PREFACE):
        if PREFACE.startswith(data):
            raise H2Incomplete("the HTTP/2 preface is incomplete")
        raise H2Error("the connection does not start with the HTTP/2 preface")
    if not data.startswith(PREFACE):
        raise H2Error("the connection does not start with the HTTP/2 preface")
    offset = len(PREFACE)
    settings: list[tuple[int, int]] = []
    window = 0
    priorities: list[tuple[int, int, int, int]] = []
    block = bytearray()
    headers_priority: tuple[int, int, int] | None = None
    headers_stream = 0
    in_headers = False
    for _ in range(_MAX_FRAMES):
        if len(data) - offset < _FRAME_HEADER:
            raise H2Incomplete("an HTTP/2 frame header is incomplete")
        length = int.from_bytes(data[offset : offset + 3])
        kind, flags = data[offset + 3], data[offset + 4]
        stream = int.from_bytes(data[offset + 5 : offset + 9]) & 0x7FFFFFFF
        if length > _MAX_FRAME:
            raise H2Error(f"an HTTP/2 frame of {length} bytes is too large for an opening")
        start = offset + _FRAME_HEADER
        if len(data) < start + length:
            raise H2Incomplete("an HTTP/2 frame is incomplete")
        payload = data[start : start + length]
        offset = start + length
        if in_headers and kind != _CONTINUATION:
            raise H2Error("a HEADERS block was interrupted by another frame")
        if kind == _SETTINGS and not flags & 0x1:
            if length % 6:
                raise H2Error("a SETTINGS frame has a length that is not a multiple of 6")
            settings += [
                (int.from_bytes(payload[i : i + 2]), int.from_bytes(payload[i + 2 : i + 6]))
                for i in range(0, length, 6)
            ]
        elif kind == _WINDOW_UPDATE and stream == 0:
            if length != 4:
                raise H2Error("a WINDOW_UPDATE frame is not 4 bytes long")
            window += int.from_bytes(payload) & 0x7FFFFFFF
        elif kind == _PRIORITY:
            if length != 5:
                raise H2Error("a PRIORITY frame is not 5 bytes long")
            priorities.append((stream, *_priority(payload)))
        elif kind == _HEADERS:
            fragment, headers_priority = _headers_payload(payload, flags)
            headers_stream = stream
            block += fragment
            in_headers = not flags & _END_HEADERS
        elif kind == _CONTINUATION:
            if not in_headers:
                raise H2Error("a CONTINUATION frame without a HEADERS frame")
            block += payload
            in_headers = not flags & _END_HEADERS
        if kind in (_HEADERS, _CONTINUATION) and not in_headers:
            return H2Opening(
                settings=tuple(settings),
                window_update=window,
                priority_frames=tuple(priorities),
                headers_priority=headers_priority,
                headers=_decode(bytes(block)),
                stream=headers_stream,
                consumed=offset,
            )
    raise H2Error(f"no request headers within the first {_MAX_FRAMES} HTTP/2 frames")


def _priority(payload: bytes) -> tuple[int, int, int]:
    word = int.from_bytes(payload[:4])
    return word >> 31, word & 0x7FFFFFFF, payload[4] + 1


def _headers_payload(payload: bytes, flags: int) -> tuple[bytes, tuple[int, int, int] | None]:
    pad = 0
    if flags & _PADDED:
        if not payload:
            raise H2Error("a padded HEADERS frame is empty")
        pad, payload = payload[0], payload[1:]
    priority = None
    if flags & _PRIORITY_FLAG:
        if len(payload) < 5:
            raise H2Error("a HEADERS frame's priority is truncated")
        priority, payload = _priority(payload[:5]), payload[5:]
    if pad > len(payload):
        raise H2Error("a HEADERS frame's padding is longer than the frame")
    return payload[: len(payload) - pad], priority


def _decode(block: bytes) -> tuple[tuple[str, str], ...]:
    try:
        pairs = Decoder().decode(block, raw=True)
    except (HPACKError, ValueError, IndexError) as exc:
        raise H2Error(f"the request's header block is not valid HPACK ({exc})") from None
    return tuple(
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in pairs
    )


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """One HPACK header block for ``headers`` (a fresh encoder: no shared table)."""
    return bytes(Encoder().encode(headers))
