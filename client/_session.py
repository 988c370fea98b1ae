"""``ProviderSession``: what a provider adapter talks to its site through.

It sends each request as the harvesting browser did (headers in the order Chromium
gave that kind of call, cookies chosen for that URL), turns error answers into typed
errors, and keeps the cookies a response sets: through the client's view (in memory at
once, in the store in batches), or without one compare-and-set on the generation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fingerprint import (
    POST_JSON,
    Call,
    Shape,
    calls_from_stored,
    request_headers,
    shape_for,
)
from storage import Credential, CredentialStore, merged_cookies

from ._cookies import cookie_header, received_cookies
from ._errors import (
    CredentialRejected,
    ProviderError,
    RateLimited,
    ServerError,
    shorten,
)
from ._http import HTTPReply, HTTPTransport
from ._lines import LineDecoder
from ._sse import ServerSentEvent, SSEDecoder
from ._view import CredentialView

if TYPE_CHECKING:
    from ._provider import Provider

__all__ = ["ProviderSession"]

logger = logging.getLogger("client")

Headers = Sequence[tuple[str, str | None]]


class ProviderSession:
    """One provider's credential in use: requests, error mapping, cookie write-back."""

    def __init__(
        self,
        provider: Provider,
        credential: Credential,
        *,
        transport: HTTPTransport,
        store: CredentialStore,
        view: CredentialView | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.credential = credential
        self._transport = transport
        self._store = store
        self._view = view
        self._clock = clock
        self.last_sent: float | None = None  # when the latest request went out

    def now(self) -> float:
        """The client's clock (Unix seconds): signatures and expiry use it."""
        return self._clock()

    @property
    def tokens(self) -> dict[str, str]:
        """The page tokens the harvest read (secrets: never log them)."""
        return dict(self.credential.tokens)

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Headers = (),
        call: Call | None = None,
    ) -> AsyncIterator[HTTPReply]:
        """Send a request; yields the reply with a success status (2xx/3xx).

        ``call`` is the kind of call the site's own script makes here (one the provider
        declares in ``calls``): its headers go out in the order Chromium gave that call
        when it was captured. Without it, a plain GET or JSON POST is assumed.

        Error statuses raise: ``RateLimited`` (429), ``CredentialRejected`` (the
        provider's rejection), ``ServerError`` (5xx), ``ProviderError`` (the rest).
        """
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
        if call is None:
            json_post = json_body is not None and method.upper() == "POST"
            call = POST_JSON if json_post else Call(method)
        now = self.last_sent = self._clock()
        cookies = cookie_header(self.credential.cookies_for(url, now=now))
        sent = request_headers(
            self.credential.headers,
            headers,
            cookie=cookies,
            content_length=None if body is None else len(body),
            shape=self._shape(call),
        )
        async with self._transport.request(
            self.credential, method, url, headers=sent, body=body
        ) as reply:
            await self._write_back(reply)
            if reply.status >= 400:
                raise await self._error(method, reply)
            yield reply

    def _shape(self, call: Call) -> Shape | None:
        """How the harvesting Chromium wrote ``call``; None when it was not captured
        (an older capture, or a call the provider does not declare)."""
        credential = self.credential
        # A harvest's capture never changes: its shapes are read once per process.
        harvest = (credential.provider, credential.profile, credential.harvested_at)
        shapes = _SHAPES.get(harvest)
        if shapes is None:
            if len(_SHAPES) >= _SHAPES_KEPT:
                _SHAPES.clear()
            shapes = _SHAPES[harvest] = {}
        if call not in shapes:
            captures = calls_from_stored(credential.fingerprint)
            shapes[call] = shape = shape_for(captures, call)
            if shape is None and captures:
                _note_uncaptured(self.provider.name, call)
        return shapes[call]

    async def lines(self, reply: HTTPReply) -> AsyncIterator[str]:
        """The reply's body as text lines, each as soon as it is complete."""
        decoder = LineDecoder()
        async for chunk in reply.chunks():
            for line in decoder.feed(chunk):
                yield line
        for line in decoder.close():
            yield line

    async def events(
        self, reply: HTTPReply, *, keep_unfinished: bool = False
    ) -> AsyncIterator[ServerSentEvent]:
        """The reply's body as Server-Sent Events, each as soon as it is complete.

        As the standard says, an event the stream ends in the middle of is discarded;
        ``keep_unfinished`` yields it last instead, for a provider whose own protocol
        keeps it (a ``data: [DONE]`` the server closes after, with no blank line).
        """
        lines, decoder = LineDecoder(), SSEDecoder()
        async for chunk in reply.chunks():
            for line in lines.feed(chunk):
                event = decoder.feed(line)
                if event is not None:
                    yield event
        if keep_unfinished:
            for line in lines.close():
                decoder.feed(line)
            last = decoder.close()
            if last is not None:
                yield last

    async def fetch_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        headers: Headers = (),
        call: Call | None = None,
    ) -> Any:
        """Send a request and decode its JSON answer; ``ProviderError`` if it is not JSON."""
        async with self.request(
            method, url, json_body=json_body, headers=headers, call=call
        ) as reply:
            raw = b"".join([chunk async for chunk in reply.chunks()])
        try:
            return json.loads(raw)
        except ValueError:
            raise ProviderError(
                f"{self.provider.name}: {_path(url)} did not answer JSON: {shorten(raw)}",
                status=reply.status,
                body=shorten(raw),
            ) from None

    async def _error(self, method: str, reply: HTTPReply) -> ProviderError:
        raw = await reply.body()
        text = raw.decode("utf-8", "replace")
        short = shorten(text)
        name = self.provider.name
        where = f"{name}: {method} {_path(reply.url)} answered {reply.status}"
        if reply.status == 429:
            retry_after = _retry_after(reply.header("retry-after"), self._clock())
            hint = f"; retry after {retry_after:g}s" if retry_after is not None else ""
            return RateLimited(f"{where} (rate limited){hint}", retry_after=retry_after, body=short)
        if self.provider.is_rejection(reply.status, text):
            return CredentialRejected(
                f"{where}: the site refused the harvested credential{_why(self.provider, text)}",
                status=reply.status,
                body=short,
            )
        message = self.provider.service_error(reply.status, text)
        if message is not None:
            # The service said what went wrong: trying again would not change it.
            return ProviderError(f"{where}: {message}", status=reply.status, body=short)
        kind = ServerError if reply.status >= 500 else ProviderError
        return kind(f"{where}: {short}", status=reply.status, body=short)

    async def _write_back(self, reply: HTTPReply) -> None:
        """Keep the cookies the response set (never over a newer harvest)."""
        now = self._clock()
        credential = self.credential
        cookies = received_cookies(
            reply.header_list("set-cookie"), reply.url, now=now, jar=credential.cookies
        )
        if not cookies:
            return
        if self._view is not None:
            # In memory now, in the store within the view's interval.
            self.credential = self._view.rotate(credential, cookies)
            return
        applied = await self._store.merge_cookies(
            credential.provider, credential.profile, cookies, generation=credential.generation
        )
        if applied:
            self.credential = dataclasses.replace(
                credential,
                cookies=merged_cookies(credential.cookies, cookies, now),
                generation=credential.generation + 1,
            )
            return
        # A newer harvest or another client's write-back won: use what is stored now.
        stored = await self._store.get(credential.provider, credential.profile)
        if stored is not None:
            self.credential = stored
        logger.debug("%s: cookie write-back skipped: the credential changed", credential.provider)


def _retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _why(provider: Provider, text: str) -> str:
    """What in a refusal shows it is one, for the message."""
    marker = next((m for m in provider.rejection_markers if m in text), None)
    return f" (its answer says {marker!r})" if marker else f": {shorten(text)}"


# The call shapes of recent harvests, by (provider, profile, harvested_at).
_SHAPES: dict[tuple[str, str, float | None], dict[Call, Shape | None]] = {}
_SHAPES_KEPT = 256
_uncaptured: set[tuple[str, Call]] = set()


def _note_uncaptured(provider: str, call: Call) -> None:
    """Say once per process that a call goes out in the general order: the browser's
    capture did not make it (the provider should declare it in ``calls``)."""
    if (provider, call) in _uncaptured:
        return
    _uncaptured.add((provider, call))
    logger.info(
        "%s: %s was not among the calls Chromium made at capture; its headers go out "
        "in Chromium's general fetch order",
        provider,
        call.label,
    )


def _path(url: str) -> str:
    return urlsplit(url).path or "/"
