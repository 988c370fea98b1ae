"""Errors raised by the client and its configuration.

    ClientError
    ├── ConfigError (ValueError)      the config file is unreadable, malformed or invalid
    └── UnknownProvider (LookupError)  no provider of that name; lists the valid ones

Messages say what to do next and never hold a secret (no cookie, token or password).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ClientError", "ConfigError", "UnknownProvider"]


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
    """No provider is registered under ``name``."""

    def __init__(self, name: str, valid: Sequence[str]) -> None:
        listing = ", ".join(valid) if valid else "none are registered"
        super().__init__(f"unknown provider {name!r}; valid providers: {listing}")
        self.name = name
        self.valid = tuple(valid)
