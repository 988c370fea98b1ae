"""The wire knowledge the harvester and the client share.

How a browser opens a connection and orders its headers: the TLS ClientHello and HTTP/2
opening parsers, ``Fingerprint`` (JA3, JA3 with sorted extensions, JA4, JA4_r, Akamai,
header order), the API calls a page makes and what Chromium sent for each, JA4H, and
Chromium's header-order rules. Pure: it imports none of the project's
packages and no third-party package but ``hpack``.
"""

from __future__ import annotations

from ._calls import (
    CAPTURE_COOKIES,
    GENERIC_CALLS,
    GET,
    POST_JSON,
    Call,
    CallCapture,
    Shape,
    calls_from_stored,
    calls_to_stored,
    chromium_weight,
    shape_for,
    urgency_of,
)
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
from ._ja4h import ja4h
from ._tls import ClientHello, hello_length, is_grease, parse_client_hello

__all__ = [
    "CAPTURE_COOKIES",
    "GENERIC_CALLS",
    "GET",
    "POST_JSON",
    "PREFACE",
    "Call",
    "CallCapture",
    "ClientHello",
    "Fingerprint",
    "FingerprintError",
    "H2Error",
    "H2Incomplete",
    "H2Opening",
    "HelloError",
    "HelloIncomplete",
    "Shape",
    "UnreadableFingerprint",
    "calls_from_stored",
    "calls_to_stored",
    "chromium_weight",
    "encode_headers",
    "hello_length",
    "is_grease",
    "ja4_alpn",
    "ja4h",
    "ordered_headers",
    "parse_client_hello",
    "parse_h2_opening",
    "request_headers",
    "shape_for",
    "urgency_of",
]
