"""A browser's network fingerprint: its TLS ClientHello and HTTP/2 opening, and the
names the world knows them by (JA3, JA3 with sorted extensions, JA4, Akamai).

A ``Fingerprint`` is what the harvester's capture endpoint saw from the browser. It
is stored with every credential as a JSON-ready dict (``to_dict``/``from_dict``); the
derived names are stored alongside for people reading the database, and recomputed
on load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ._calls import Call, CallCapture, Shape, calls_to_stored, decode_calls, shape_for
from ._errors import UnreadableFingerprint
from ._h2 import H2Opening
from ._tls import ClientHello, is_grease
from .extensions import EXT_ALPN, EXT_ALPS, EXT_ALPS_OLD, EXT_SERVER_NAME

__all__ = ["Fingerprint", "ja4_alpn"]

_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_EMPTY_HASH = "000000000000"


def _ints(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class Fingerprint:
    """TLS and HTTP/2 as one client sent them. Lists keep wire order, GREASE included."""

    legacy_version: int
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    record_version: int = 0x0301
    server_name: bool = True
    supported_versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    key_shares: tuple[int, ...] = ()
    point_formats: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    alpn: tuple[str, ...] = ()
    alps: tuple[str, ...] = ()
    cert_compression: tuple[int, ...] = ()
    psk_modes: tuple[int, ...] = ()
    trust_anchors: tuple[str, ...] = ()  # hex, in wire order
    record_size_limit: int | None = None
    delegated_credentials: tuple[int, ...] = ()
    permuted: bool | None = None  # extension order shuffled per connection (None: unknown)
    http: str = "h2"  # the protocol the request went over: "h2" or "http/1.1"
    h2_settings: tuple[tuple[int, int], ...] = ()
    h2_window_update: int = 0
    h2_priority_frames: tuple[tuple[int, int, int, int], ...] = ()
    h2_headers_priority: tuple[int, int, int] | None = None  # exclusive, dependency, weight
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # The API calls Chromium made from the capture page (absent in older captures).
    calls: tuple[CallCapture, ...] = field(default=(), compare=False)

    @classmethod
    def from_wire(
        cls,
        hello: ClientHello,
        *,
        opening: H2Opening | None = None,
        http1_headers: Sequence[tuple[str, str]] = (),
        permuted: bool | None = None,
    ) -> Fingerprint:
        """The fingerprint of one connection: its hello and the request it carried."""
        h2: dict[str, Any]
        if opening is not None:
            h2 = {
                "http": "h2",
                "h2_settings": opening.settings,
                "h2_window_update": opening.window_update,
                "h2_priority_frames": opening.priority_frames,
                "h2_headers_priority": opening.headers_priority,
                "headers": opening.headers,
            }
        else:
            h2 = {"http": "http/1.1", "headers": tuple(http1_headers)}
        return cls(
            legacy_version=hello.legacy_version,
            record_version=hello.record_version,
            ciphers=hello.ciphers,
            extensions=hello.extensions,
            server_name=EXT_SERVER_NAME in hello.extensions,
            supported_versions=hello.supported_versions,
            groups=hello.groups,
            key_shares=hello.key_shares,
            point_formats=hello.point_formats,
            signature_algorithms=hello.signature_algorithms,
            alpn=tuple(p.decode("latin-1") for p in hello.alpn),
            alps=tuple(p.decode("latin-1") for p in hello.alps),
            cert_compression=hello.cert_compression,
            psk_modes=hello.psk_modes,
            trust_anchors=tuple(t.hex() for t in hello.trust_anchors),
            record_size_limit=hello.record_size_limit,
            delegated_credentials=hello.delegated_credentials,
            permuted=permuted,
            **h2,
        )

    # -- the names fingerprints go by --------------------------------------------------

    @property
    def ja3(self) -> str:
        """JA3's text: version, ciphers, extensions, groups, point formats (no GREASE)."""
        return self._ja3(sort=False)

    @property
    def ja3_sorted(self) -> str:
        """JA3 with the extensions sorted: stable across Chrome's per-connection shuffle."""
        return self._ja3(sort=True)

    @property
    def ja3_hash(self) -> str:
        return hashlib.md5(self.ja3.encode(), usedforsecurity=False).hexdigest()

    def _ja3(self, *, sort: bool) -> str:
        extensions = _plain(self.extensions)
        if sort:
            extensions = sorted(extensions)
        parts = [
            str(self.legacy_version),
            _dashed(_plain(self.ciphers)),
            _dashed(extensions),
            _dashed(_plain(self.groups)),
            _dashed(self.point_formats),
        ]
        return ",".join(parts)

    @property
    def ja4(self) -> str:
        """FoxIO's JA4: ``t13d1517h2_<ciphers hash>_<extensions and sigalgs hash>``."""
        a, ciphers, rest = self._ja4_parts()
        return f"{a}_{_sha12(ciphers)}_{_sha12(rest)}"

    @property
    def ja4_r(self) -> str:
        """JA4 before hashing (its "raw" form), for reading differences."""
        a, ciphers, rest = self._ja4_parts()
        return f"{a}_{ciphers}_{rest}"

    def _ja4_parts(self) -> tuple[str, str, str]:
        versions = _plain(self.supported_versions)
        version = _JA4_VERSIONS.get(max(versions) if versions else self.legacy_version, "00")
        ciphers = _plain(self.ciphers)
        extensions = _plain(self.extensions)
        alpn = ja4_alpn(self.alpn[0].encode("latin-1") if self.alpn else b"")
        a = (
            f"t{version}{'d' if self.server_name else 'i'}"
            f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{alpn}"
        )
        cipher_text = ",".join(f"{c:04x}" for c in sorted(ciphers))
        ext_text = ",".join(
            f"{e:04x}" for e in sorted(extensions) if e not in (EXT_SERVER_NAME, EXT_ALPN)
        )
        sig_text = ",".join(f"{s:04x}" for s in _plain(self.signature_algorithms))
        rest = f"{ext_text}_{sig_text}" if sig_text else ext_text
        return a, cipher_text, rest

    @property
    def akamai(self) -> str:
        """The Akamai HTTP/2 fingerprint; empty for an HTTP/1.1 connection."""
        if self.http != "h2":
            return ""
        settings, priorities = self.h2_settings_text, self.h2_priority_text or "0"
        return f"{settings}|{self.h2_window_update}|{priorities}|{','.join(self.pseudo_order)}"

    @property
    def h2_settings_text(self) -> str:
        """SETTINGS as ``id:value;...`` (Akamai's first part, and curl's option syntax)."""
        return ";".join(f"{k}:{v}" for k, v in self.h2_settings)

    @property
    def h2_priority_text(self) -> str:
        """PRIORITY frames as ``stream:exclusive:dependency:weight,...``; empty if none."""
        return ",".join(":".join(map(str, p)) for p in self.h2_priority_frames)

    @property
    def pseudo_order(self) -> tuple[str, ...]:
        """The pseudo-headers' first letters in wire order, e.g. ``("m", "a", "s", "p")``."""
        return tuple(name[1] for name, _ in self.headers if name.startswith(":"))

    @property
    def header_order(self) -> tuple[str, ...]:
        """The regular header names of the captured request, in wire order."""
        return tuple(name.lower() for name, _ in self.headers if not name.startswith(":"))

    def header(self, name: str) -> str | None:
        """The captured request's value of ``name`` (case-insensitive), if it had one."""
        return next((v for k, v in self.headers if k.lower() == name), None)

    def shape(self, call: Call) -> Shape | None:
        """How Chromium writes ``call``'s headers; None when it was not captured."""
        return shape_for(self.calls, call)

    # -- GREASE and feature flags --------------------------------------------------------

    @property
    def grease(self) -> bool:
        return any(is_grease(c) for c in self.ciphers) or any(is_grease(e) for e in self.extensions)

    @property
    def grease_sigalg(self) -> bool:
        return any(is_grease(s) for s in self.signature_algorithms)

    @property
    def alps_codepoint(self) -> int | None:
        return next((e for e in self.extensions if e in (EXT_ALPS, EXT_ALPS_OLD)), None)

    # -- storage ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the derived names are added for readers of the database."""
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "calls":
                data[f.name] = _jsonable(getattr(self, f.name))
        data.update(calls_to_stored(self.calls))
        data["derived"] = {
            "ja3": self.ja3,
            "ja3_sorted": self.ja3_sorted,
            "ja4": self.ja4,
            "akamai": self.akamai,
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        """The inverse of ``to_dict``; ``UnreadableFingerprint`` when it is not one."""
        known = {f.name for f in fields(cls)}
        try:
            values: dict[str, Any] = {}
            for name, value in data.items():
                if name not in known or name == "calls":
                    continue
                values[name] = _from_json(name, value)
            return cls(**values, calls=decode_calls(data))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise UnreadableFingerprint(f"the stored fingerprint is not readable: {exc}") from None

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> Fingerprint | None:
        """A credential's stored fingerprint; ``None`` when there is none or it cannot
        be read (an older format counts as none: callers fall back to a target alone)."""
        if not data:
            return None
        try:
            return cls.from_dict(data)
        except UnreadableFingerprint:
            return None


def ja4_alpn(value: bytes) -> str:
    """JA4's two ALPN characters: the value's first and last, or "00" when there is none.

    When either end is not an ASCII letter or digit, the first and last characters of
    the value's hex form stand in (FoxIO's rule).
    """
    if not value:
        return "00"
    first, last = value[0], value[-1]
    if _alnum(first) and _alnum(last):
        return chr(first) + chr(last)
    text = value.hex()
    return text[0] + text[-1]


def _alnum(byte: int) -> bool:
    return chr(byte).isascii() and chr(byte).isalnum()


def _plain(values: Sequence[int]) -> list[int]:
    return [v for v in values if not is_grease(v)]


def _dashed(values: Sequence[int]) -> str:
    return "-".join(str(v) for v in values)


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else _EMPTY_HASH


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _from_json(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"{name} has an unexpected type")
    if name == "headers":
        return tuple((str(k), str(v)) for k, v in value)
    if name == "h2_settings":
        return tuple((int(k), int(v)) for k, v in value)
    if name == "h2_priority_frames":
        return tuple(tuple(_ints(p)) for p in value)
    if name == "h2_headers_priority":
        return tuple(_ints(value))
    if name in ("alpn", "alps", "trust_anchors"):
        return tuple(str(v) for v in value)
    return _ints(value)
