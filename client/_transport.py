"""The only module that imports curl_cffi: sessions that look like the harvesting browser.

A session is built from a credential: its impersonation target (TLS and HTTP/2 of that
Chrome), no curl_cffi default headers (they belong to another browser version: the
caller passes the harvested ones, in order), the credential's proxy, the extra CAs of
``[network] ca_bundle``, HTTP/2. Sessions are pooled per (provider, profile) and
replaced when a new harvest arrives; cookies never live in a session: the caller
chooses them per request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import certifi
from curl_cffi import CurlHttpVersion, CurlMOpt, CurlOpt
from curl_cffi.__version__ import __version__ as _curl_cffi_version
from curl_cffi.requests import AsyncSession, BrowserType, Response
from curl_cffi.requests.exceptions import RequestException
from curl_cffi.requests.exceptions import Timeout as CurlTimeout

from storage import REDACTED, Credential, redact_url

from ._config import ClientConfig, cache_dir
from ._errors import CredentialRejected, NetworkError, StreamTimeout
from ._replay import Replay, replay_for

__all__ = [
    "Reply",
    "Transport",
    "chrome_targets",
    "curl_cffi_version",
    "impersonate_target",
    "replay_options",
]

logger = logging.getLogger("client.transport")

_CHROME_TARGET = re.compile(r"chrome(\d+)")
# Concurrent transfers per session; HTTP/2 multiplexes them over few connections.
MAX_CLIENTS = 512
# Connections per host and session, Chromium's own limit per host: beyond what they
# multiplex (the site's SETTINGS_MAX_CONCURRENT_STREAMS each on HTTP/2), transfers wait,
# as Chromium's do, instead of opening ever more connections from one address.
MAX_CONNECTIONS = 6
# An error body is read up to this many bytes (for the message and rejection checks).
_ERROR_BODY_LIMIT = 64 * 1024


def curl_cffi_version() -> str:
    """The installed curl_cffi's version (``harvest doctor`` reports it)."""
    return str(_curl_cffi_version)


def chrome_targets() -> list[tuple[int, str]]:
    """curl_cffi's desktop Chrome targets as (major, name), oldest first."""
    found: dict[int, str] = {}
    for member in BrowserType:
        match = _CHROME_TARGET.fullmatch(member.value)
        if match:  # "chrome133a" and "chrome131_android" are variants, not the plain target
            found[int(match.group(1))] = member.value
    return sorted(found.items())


def impersonate_target(major: int) -> str:
    """The newest Chrome target not newer than ``major`` (the oldest if all are newer)."""
    targets = chrome_targets()
    fitting = [name for number, name in targets if number <= major]
    return fitting[-1] if fitting else targets[0][1]


class Reply:
    """An HTTP response whose body is still arriving."""

    def __init__(
        self, response: Response, url: str, config: ClientConfig, proxy: str | None = None
    ) -> None:
        self._response = response
        self._config = config
        self._proxy = proxy
        self.url = url
        self.status: int = response.status_code

    def header(self, name: str) -> str | None:
        value = self._response.headers.get(name)
        return None if value is None else str(value)

    def header_list(self, name: str) -> list[str]:
        return [str(v) for v in self._response.headers.get_list(name)]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ``StreamTimeout`` after ``idle_timeout`` of silence."""
        queue = self._response.queue
        assert queue is not None, "not a streamed response"
        idle = self._config.idle_timeout
        while True:
            try:
                with anyio.fail_after(idle):
                    item = await queue.get()
            except TimeoutError:
                raise StreamTimeout(
                    f"no data from {_host(self.url)} for {idle:g}s; the stream stalled",
                    phase="idle",
                ) from None
            if isinstance(item, RequestException):
                raise _translate(item, self.url, during="the body", proxy=self._proxy) from None
            if not isinstance(item, bytes):  # curl_cffi's end-of-stream marker
                return
            yield item

    async def body(self, limit: int = _ERROR_BODY_LIMIT) -> bytes:
        """Up to ``limit`` bytes of the body (for error answers, which are short)."""
        parts: list[bytes] = []
        size = 0
        with contextlib.suppress(NetworkError, StreamTimeout):
            async for chunk in self.chunks():
                parts.append(chunk)
                size += len(chunk)
                if size >= limit:
                    break
        return b"".join(parts)[:limit]

    def abort(self) -> None:
        """Stop the transfer: curl drops it at its next read (a stalled one at its
        low-speed limit), so leaving early never waits for the server."""
        if self._response.quit_now is not None:
            self._response.quit_now.set()


@dataclass
class _Pooled:
    identity: tuple[object, ...]
    session: AsyncSession[Response]
    users: int = 0
    retired: bool = False
    # Whether its connections speak HTTP/2, learnt from its first answer (None: not yet).
    http2: bool | None = None


class Transport:
    """curl_cffi sessions per (provider, profile), made from credentials."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        ca_bundle: Path | None = None,
        proxy_for: Callable[[str], str | None] | None = None,
    ) -> None:
        self._config = config
        self._ca_bundle = ca_bundle
        # The configured proxy of a provider: where a credential harvested through a
        # proxy with a password (stored without it) gets the password back.
        self._proxy_for = proxy_for
        self._verify: str | None = None  # the merged CA file, made on first use
        self._sessions: dict[tuple[str, str], _Pooled] = {}
        # Concurrent first requests must share one new session, not each build one.
        self._making = anyio.Lock()
        self.sessions_made = 0  # for tests and benchmarks
        self._retired: list[_Pooled] = []
        self._closed = False

    async def aclose(self) -> None:
        """Close every session."""
        self._closed = True
        pools = [*self._sessions.values(), *self._retired]
        self._sessions.clear()
        self._retired.clear()
        for pooled in pools:
            await pooled.session.close()

    @contextlib.asynccontextmanager
    async def request(
        self,
        credential: Credential,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> AsyncIterator[Reply]:
        """Send one request as ``credential``'s browser; yields the reply once its
        headers arrived. Raises ``NetworkError`` or ``StreamTimeout``."""
        if self._closed:
            raise RuntimeError("the client is closed")
        credential = self._with_proxy(credential)
        pooled = await self._session(credential)
        config = self._config
        accept_encoding = next((v for k, v in headers if k.lower() == "accept-encoding"), None)
        if pooled.http2:
            headers = _cookie_fields(headers)
        elif pooled.http2 is False:
            # Priority is an HTTP/2 and HTTP/3 header: Chromium sends none on HTTP/1.1.
            headers = [(k, v) for k, v in headers if k.lower() != "priority"]
        pooled.users += 1
        try:
            try:
                with anyio.fail_after(config.connect_timeout + config.first_byte_timeout):
                    response = await pooled.session.request(
                        method,  # type: ignore[arg-type]
                        url,
                        headers=list(headers),
                        content=body,
                        stream=True,
                        # curl adds no header of its own for these: the caller's list is
                        # the whole header set, in the caller's order.
                        accept_encoding=accept_encoding,
                        default_headers=False,
                        allow_redirects=False,
                        discard_cookies=True,
                        timeout=None,
                    )
            except TimeoutError:
                raise StreamTimeout(
                    f"{_host(url)} sent no answer within "
                    f"{config.connect_timeout + config.first_byte_timeout:g}s",
                    phase="first byte",
                ) from None
            except RequestException as exc:
                raise _translate(exc, url, during="the request", proxy=credential.proxy) from None
            pooled.http2 = response.http_version == CurlHttpVersion.V2_0
            reply = Reply(response, url, config, credential.proxy)
            try:
                yield reply
            finally:
                reply.abort()
        finally:
            pooled.users -= 1
            if pooled.retired and pooled.users == 0:
                await self._close_retired(pooled)

    def _with_proxy(self, credential: Credential) -> Credential:
        """``credential`` with the proxy it was harvested through, password included.

        A password is never stored: it comes from the config, and only for that same
        exit (a clearance is bound to it). When the config names another proxy now, the
        credential cannot be replayed: it is refused, so the client gets a new one.
        """
        stored = credential.proxy
        if stored is None or REDACTED not in stored:
            return credential
        configured = self._proxy_for(credential.provider) if self._proxy_for else None
        if configured is not None and redact_url(configured) == stored:
            return dataclasses.replace(credential, proxy=configured)
        now = redact_url(configured) if configured else "no proxy"
        raise CredentialRejected(
            f"{credential.provider}/{credential.profile} was harvested through the proxy "
            f"{stored}, whose password is not stored, and the config now names {now}: its "
            "clearance is bound to that exit; a new harvest goes through the new one"
        )

    async def _session(self, credential: Credential) -> _Pooled:
        key = (credential.provider, credential.profile)
        # A new harvest (not a cookie write-back) is what changes a session's identity.
        identity = (credential.harvested_at, credential.impersonate, credential.proxy)
        pooled = self._sessions.get(key)
        if pooled is not None and pooled.identity == identity:
            return pooled
        async with self._making:
            return await self._new_session(key, identity, credential)

    async def _new_session(
        self, key: tuple[str, str], identity: Any, credential: Credential
    ) -> _Pooled:
        pooled = self._sessions.get(key)
        if pooled is not None and pooled.identity == identity:
            return pooled  # made by the caller this one waited for
        if pooled is not None:
            pooled.retired = True
            if pooled.users == 0:
                await self._close_retired(pooled)
            else:
                self._retired.append(pooled)
        verify = await self._verify_path()
        config = self._config
        low_speed = max(config.first_byte_timeout, config.idle_timeout) + config.connect_timeout
        options: dict[CurlOpt, int | str] = {
            CurlOpt.CONNECTTIMEOUT_MS: int(config.connect_timeout * 1000),
            # The backstop that ends a transfer curl_cffi would otherwise keep alive
            # after we stopped waiting for it (an abandoned or stalled stream).
            CurlOpt.LOW_SPEED_LIMIT: 1,
            CurlOpt.LOW_SPEED_TIME: int(low_speed) + 1,
            # Concurrent requests of a new session wait for its first connection and
            # multiplex on it, as Chromium's do, instead of each opening its own (N
            # handshakes from one address within milliseconds).
            CurlOpt.PIPEWAIT: 1,
        }
        options.update(replay_options(credential))
        session: AsyncSession[Response] = AsyncSession(
            impersonate=credential.impersonate or "chrome",
            default_headers=False,
            proxy=credential.proxy,
            # curl_cffi types verify as bool, but takes a CA file path too.
            verify=verify if verify is not None else True,  # type: ignore[arg-type]
            http_version="v2tls",
            max_clients=MAX_CLIENTS,
            curl_options=options,
        )
        session.acurl.setopt(CurlMOpt.MAX_HOST_CONNECTIONS, MAX_CONNECTIONS)  # type: ignore[no-untyped-call]
        pooled = self._sessions[key] = _Pooled(identity, session)
        self.sessions_made += 1
        return pooled

    async def _close_retired(self, pooled: _Pooled) -> None:
        if pooled in self._retired:
            self._retired.remove(pooled)
        await pooled.session.close()

    async def _verify_path(self) -> str | None:
        """The CA file: certifi's roots plus ``ca_bundle`` (curl takes one file)."""
        if self._ca_bundle is None:
            return None
        if self._verify is None:
            self._verify = await anyio.to_thread.run_sync(_merge_ca, self._ca_bundle)
        return self._verify


def _cookie_fields(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with the Cookie header as one field per cookie, where it was: what
    Chromium sends on HTTP/2 (on HTTP/1.1 it sends the one joined line, as the client
    does on a session whose protocol it has not seen yet)."""
    fields: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "cookie":
            fields += [("cookie", part) for part in value.split("; ") if part]
        else:
            fields.append((name, value))
    return fields


_warned: set[str] = set()


def replay_options(credential: Credential) -> dict[CurlOpt, int | str]:
    """The curl options that make a session send ``credential``'s captured fingerprint.

    What cannot be reproduced is logged (at info: the harvester warns when it
    captures) once per process and kind of difference.
    """
    replay = replay_for(credential)
    if replay is None:
        return {}
    _warn_once(credential, replay)
    return {CurlOpt[name]: value for name, value in replay.options}


def _warn_once(credential: Credential, replay: Replay) -> None:
    if replay.exact or replay.describe() in _warned:
        return
    _warned.add(replay.describe())
    logger.info(
        "%s/%s: the browser's fingerprint is replayed as closely as curl_cffi allows: %s",
        credential.provider,
        credential.profile,
        replay.describe(),
    )


def _merge_ca(extra: Path) -> str:
    """certifi's roots and ``extra`` in one file, named by its content in the cache
    directory: made once, shared by every client, nothing to delete (so nothing is left
    behind by a client that is killed)."""
    try:
        added = extra.read_bytes()
    except OSError as exc:
        raise NetworkError(
            f"cannot read [network] ca_bundle {extra}: {exc.strerror or exc}"
        ) from None
    merged = Path(certifi.where()).read_bytes() + b"\n" + added
    directory = cache_dir()
    path = directory / f"ca-{hashlib.sha256(merged).hexdigest()[:20]}.pem"
    if path.is_file():
        return str(path)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, prefix=".ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as out:
            out.write(merged)
        os.replace(partial, path)  # whole or not at all, whoever writes it first
    except OSError as exc:
        raise NetworkError(
            f"cannot write the merged CA file in {directory}: {exc.strerror or exc}"
        ) from None
    return str(path)


def _translate(
    exc: RequestException, url: str, *, during: str, proxy: str | None = None
) -> NetworkError | StreamTimeout:
    """A typed error for a curl failure; the message names the host, never the proxy
    (curl's own text names the proxy's address: it is replaced)."""
    host = _host(url)
    reason = _curl_reason(exc)
    if proxy:
        reason = _without_proxy(reason, proxy)
    if isinstance(exc, CurlTimeout):
        phase = "connect" if "connect" in reason.lower() else "idle"
        return StreamTimeout(f"{host}: timed out during {during} ({reason})", phase=phase)
    return NetworkError(f"{host}: connection failed during {during} ({reason})")


def _without_proxy(reason: str, proxy: str) -> str:
    try:
        parts = urlsplit(proxy)
        address, port = parts.hostname, parts.port
    except ValueError:
        return reason
    if not address:
        return reason
    if port is not None:
        reason = reason.replace(f"{address} port {port}", "the proxy")
        reason = reason.replace(f"{address}:{port}", "the proxy")
    return reason.replace(address, "the proxy")


def _curl_reason(exc: RequestException) -> str:
    # curl's messages look like "Failed to perform, curl: (18) transfer closed with ...
    # See https://curl.se/... first for more details."; keep the middle.
    text = str(exc)
    match = re.search(r"curl: \((\d+)\) (.*?)(?: See https://\S+.*)?$", text, re.S)
    reason = f"curl {match.group(1)}: {match.group(2).strip()}" if match else text
    return reason.splitlines()[0][:200] if reason else type(exc).__name__


def _host(url: str) -> str:
    return re.sub(r"^[a-z]+://([^/]+).*$", r"\1", url, flags=re.S)
