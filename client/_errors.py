"""Errors raised by the client and its configuration.

    ClientError
    ├── ConfigError (ValueError)       the config file is unreadable, malformed or invalid
    ├── UnknownProvider (LookupError)  no provider of that name; lists the valid ones
    ├── UnknownModel (LookupError)     the provider has no such model; lists the valid ones
    ├── NoCredential (LookupError)     nothing harvested yet; says which command makes one
    ├── ProviderError                  the provider answered with an error (status, body)
    │   ├── CredentialRejected         the credential was refused, even after a refresh
    │   ├── RateLimited                429, with the server's Retry-After
    │   └── ServerError                5xx (retried before the first event)
    ├── NetworkError (ConnectionError) no answer: connection, proxy or TLS failure
    ├── StreamTimeout (TimeoutError)   connect, first byte or the gap between chunks
    └── StreamBroken                   the stream ended mid-way; the events before it stand

Messages say what to do next and never hold a secret (no cookie, token or password).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ClientError",
    "ConfigError",
    "CredentialRejected",
    "NetworkError",
    "NoCredential",
    "ProviderError",
    "RateLimited",
    "ServerError",
    "StreamBroken",
    "StreamTimeout",
    "UnknownModel",
    "UnknownProvider",
    "shorten",
]

# How much of an error body a message quotes.
_BODY_LIMIT = 200


class ClientError(Exception):
    """Root of the client's errors."""


class ConfigError(ClientError, ValueError):
    """The configuration could not be read or is invalid.

    ``path`` is the file (``None`` for the environment), ``line`` the line the problem
    is on when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = path or "configuration"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class UnknownProvider(ClientError, LookupError):
    """No provider is known by ``name`` (the message lists the valid ones)."""

    def __init__(self, name: str, valid: Sequence[str]) -> None:
        listing = ", ".join(valid) if valid else "none are registered"
        super().__init__(f"unknown provider {name!r}; valid providers: {listing}")
        self.name = name
        self.valid = tuple(valid)


class UnknownModel(ClientError, LookupError):
    """``provider`` has no model ``model`` (nor an alias of that name)."""

    def __init__(self, provider: str, model: str, valid: Sequence[str]) -> None:
        super().__init__(
            f"{provider} has no model {model!r}; valid models: {', '.join(valid) or 'none'}"
        )
        self.provider = provider
        self.model = model
        self.valid = tuple(valid)


class NoCredential(ClientError, LookupError):
    """No usable credential is stored for (provider, profile)."""


class ProviderError(ClientError):
    """The provider answered with an error. ``body`` is shortened and holds no secret."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class CredentialRejected(ProviderError):
    """The provider refused the credential (a challenge page, an expired token)."""


class RateLimited(ProviderError):
    """429. ``retry_after`` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, retry_after: float | None, body: str = "") -> None:
        super().__init__(message, status=429, body=body)
        self.retry_after = retry_after


class ServerError(ProviderError):
    """A 5xx answer."""


class NetworkError(ClientError, ConnectionError):
    """The request got no answer: connection refused or reset, proxy or TLS failure."""


class StreamTimeout(ClientError, TimeoutError):
    """A deadline passed: ``phase`` is ``"connect"``, ``"first byte"`` or ``"idle"``."""

    def __init__(self, message: str, *, phase: str) -> None:
        super().__init__(message)
        self.phase = phase


class StreamBroken(ClientError):
    """The stream stopped mid-way; ``delivered`` events had reached the caller."""

    def __init__(self, message: str, *, delivered: int) -> None:
        super().__init__(message)
        self.delivered = delivered


def shorten(body: str | bytes, limit: int = _BODY_LIMIT) -> str:
    """One line of at most ``limit`` characters of a response body, for messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
