"""The wire knowledge the harvester and the client share.

How a browser opens a connection and orders its headers: the TLS ClientHello and HTTP/2
opening parsers, ``Fingerprint`` (JA3, JA3 with sorted extensions, JA4, JA4_r, Akamai,
header order) and Chromium's header-order rules. Pure: it imports none of the project's
packages and no third-party package but ``hpack``.
"""

from __future__ import annotations

from ._errors import (
    FingerprintError,
    H2Error,
    H2Incomplete,
    HelloError,
    HelloIncomplete,
    UnreadableFingerprint,
)
from ._fingerprint import Fingerprint, ja4_alpn
from ._h2 import PREFACE, H2Opening, encode_headers, parse_h2_opening
from ._headers import ordered_headers, request_headers
from ._tls import ClientHello, hello_length, is_grease, parse_client_hello

__all__ = [
    "PREFACE",
    "ClientHello",
    "Fingerprint",
    "FingerprintError",
    "H2Error",
    "H2Incomplete",
    "H2Opening",
    "HelloError",
    "HelloIncomplete",
    "UnreadableFingerprint",
    "encode_headers",
    "hello_length",
    "is_grease",
    "ja4_alpn",
    "ordered_headers",
    "parse_client_hello",
    "parse_h2_opening",
    "request_headers",
]
