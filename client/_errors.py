"""Errors raised by the client and its configuration.

    ClientError
    └── ConfigError (ValueError)   the config file is unreadable, malformed or invalid

Messages say what to do next and never hold a secret (no cookie, token or password).
"""

from __future__ import annotations

__all__ = ["ClientError", "ConfigError"]


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
