"""The transport seam: what ``ProviderSession`` needs from an HTTP client.

``Transport`` (curl_cffi, looking like the harvesting browser) is the real one; tests
inject another (``AsyncClient(transport=...)``) to exercise the client's retry,
rejection and write-back logic against an emulator with no browser or TLS in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from storage import Credential

__all__ = ["HTTPReply", "HTTPTransport"]


class HTTPReply(Protocol):
    """A response whose body is still arriving."""

    url: str
    status: int

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or ``None``."""
        ...

    def header_list(self, name: str) -> list[str]:
        """Every value of header ``name`` (``Set-Cookie`` comes several times)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ``StreamTimeout``/``NetworkError`` when it stops."""
        ...

    async def body(self, limit: int = ...) -> bytes:
        """Up to ``limit`` bytes of the body (error answers are short)."""
        ...


class HTTPTransport(Protocol):
    """Sends one request as ``credential``'s browser and yields its reply."""

    def request(
        self,
        credential: Credential,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> AbstractAsyncContextManager[HTTPReply]:
        """Yields the reply once its headers arrived; raises ``NetworkError`` or
        ``StreamTimeout``."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...
