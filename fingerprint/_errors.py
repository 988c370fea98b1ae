"""The fingerprint package's errors.

FingerprintError (ValueError)
├── HelloError            the bytes are not a well-formed TLS ClientHello
│   └── HelloIncomplete   ...yet: more bytes are needed
├── H2Error               the bytes are not a well-formed HTTP/2 client opening
│   └── H2Incomplete      ...yet: more bytes are needed
└── UnreadableFingerprint a stored fingerprint cannot be read back
"""

from __future__ import annotations

__all__ = [
    "FingerprintError",
    "H2Error",
    "H2Incomplete",
    "HelloError",
    "HelloIncomplete",
    "UnreadableFingerprint",
]


class FingerprintError(ValueError):
    """The root: wire bytes or a stored fingerprint that cannot be read."""


class HelloError(FingerprintError):
    """The bytes are not a well-formed TLS ClientHello."""


class HelloIncomplete(HelloError):
    """The bytes are the start of a ClientHello; more are needed."""


class H2Error(FingerprintError):
    """The bytes are not a well-formed HTTP/2 client opening."""


class H2Incomplete(H2Error):
    """The opening has not fully arrived yet."""


class UnreadableFingerprint(FingerprintError):
    """A stored fingerprint cannot be read back (not one, or of another format)."""
