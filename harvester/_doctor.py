"""``harvest doctor``: does the client look like the browser, as a server sees it?

One fingerprint endpoint measures both sides. The browser side is the fingerprint
stored with the credential (or a fresh capture from Chromium when there is none): its
page load, and the API calls Chromium made from the capture page, over HTTP/2 and over
HTTP/1.1. The client side is the client's own transport, built from that credential,
making the same requests through the same endpoint: the page load's header list with
the credential's identity, and each call as an adapter makes it (``request_headers``
with the call's captured shape, from headers in the order CDP reports them: sorted).
Each line gets a verdict; the exit code is 0 only when all match. What no curl option
reaches is listed, not counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from client import (
    ClientConfig,
    Config,
    Transport,
    curl_cffi_version,
    impersonate_target,
    replay_for,
)
from client.providers import api_calls, provider_class, provider_names, recipe_for
from fingerprint import GENERIC_CALLS, Call, CallCapture, Fingerprint, ja4h, request_headers
from storage import Credential, CredentialStore

from ._browser import Chromium, find_chromium
from ._capture import capture_browser
from ._endpoint import FingerprintEndpoint
from ._status import relative_time

__all__ = ["ClientCall", "run_doctor"]

_CLIENT_HINTS = ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")


@dataclass(frozen=True)
class _Check:
    name: str
    browser: str
    client: str

    @property
    def ok(self) -> bool:
        return self.browser == self.client


@dataclass(frozen=True)
class ClientCall:
    """One API call the client is about to make for the doctor: what a test may alter
    (``run_doctor(tamper=...)``) to prove a wrong client is caught."""

    call: Call
    http: str
    credential: Credential
    headers: list[tuple[str, str]]


async def run_doctor(
    config: Config,
    provider: str | None,
    profile: str,
    say: Callable[[str], None],
    *,
    tamper: Callable[[ClientCall], ClientCall] | None = None,
) -> int:
    """Measure browser and client, print the comparison through ``say``; 0 if all match."""
    if provider is not None:
        recipe_for(provider)  # an unknown provider fails here, listing the valid ones
    async with FingerprintEndpoint() as endpoint:
        stored = await _stored(config, provider, profile) if provider else None
        if stored is not None:
            credential, fingerprint = stored
            source = (
                f"Chromium {credential.browser_version}, captured when {provider}/{profile} "
                f"was harvested {relative_time(credential.harvested_at, time.time())}"
            )
        else:
            if provider is not None:
                say(
                    f"no stored fingerprint for {provider}/{profile} "
                    f"(known providers: {', '.join(provider_names())}); capturing one now"
                )
            credential, fingerprint = await _fresh(config, endpoint, provider or "doctor", profile)
            source = f"Chromium {credential.browser_version}, captured just now"
        calls, missing = _calls_to_check(fingerprint, provider)
        async with _client(config.client, endpoint) as client:
            page_load = await client.page_load(credential, fingerprint)
            measured = [
                (capture, await client.call(credential, capture, fingerprint, tamper))
                for capture in calls
            ]
    replay = replay_for(credential)
    how = (
        f"{replay.target} + {len(replay.options)} options from the capture"
        if replay is not None
        else credential.impersonate or "chrome"
    )
    say(f"browser  {source}")
    say(f"client   curl_cffi {curl_cffi_version()}, {how}")
    say("")
    say("page load")
    checks = _page_checks(fingerprint, page_load)
    for check in checks:
        _say_check(say, check)
    say("")
    say("API calls, made by the capture page's script and by the client")
    for call in missing:
        # Its headers go out in the general order: re-harvest to capture it.
        absent = _Check(call.label, "not captured (harvested by an older version)", "-")
        _say_check(say, absent)
        checks.append(absent)
    for capture, seen in measured:
        call_checks = _call_checks(capture, seen)
        checks += call_checks
        title = _title(capture)
        if all(c.ok for c in call_checks):
            say(f"match    {title}")
            say(f"    {', '.join(c.name for c in call_checks)}; JA4H {_ja4h(capture)}")
            continue
        say(f"DIFFERS  {title}")
        for check in call_checks:
            if not check.ok:
                say(f"    {check.name:<17}browser  {check.browser}")
                say(f"    {'':<17}client   {check.client}")
    if replay is not None and replay.differs:
        say("")
        say(f"not reproducible by curl_cffi (not counted): {', '.join(replay.differs)}")
    failed = [c for c in checks if not c.ok]
    say("")
    if failed:
        names = ", ".join(dict.fromkeys(c.name for c in failed))
        say(f"verdict: {len(failed)} of {len(checks)} differ ({names})")
        return 1
    say(f"verdict: all {len(checks)} match")
    return 0


def _say_check(say: Callable[[str], None], check: _Check) -> None:
    say(f"{check.name:<18} {'match' if check.ok else 'DIFFERS'}")
    say(f"    browser  {check.browser}")
    say(f"    client   {check.client}")


def _title(capture: CallCapture) -> str:
    return f"{capture.call.label} over {capture.http}"


def _calls_to_check(
    fingerprint: Fingerprint, provider: str | None
) -> tuple[list[CallCapture], list[Call]]:
    """The captured calls of ``provider`` (and the generic ones; every provider's when
    none is named), and those of its calls the capture lacks."""
    wanted = api_calls() if provider is None else (*GENERIC_CALLS, *provider_class(provider).calls)
    captured = [c for c in fingerprint.calls if c.call in wanted]
    present = {c.call for c in captured}
    return captured, [call for call in dict.fromkeys(wanted) if call not in present]


async def _stored(
    config: Config, provider: str, profile: str
) -> tuple[Credential, Fingerprint] | None:
    """The stored credential and its readable fingerprint, if it has both."""
    if not await CredentialStore.exists(config.database):
        return None
    async with CredentialStore.open(config.database, key=config.storage.key) as store:
        credential = await store.get(provider, profile)
    if credential is None:
        return None
    fingerprint = Fingerprint.from_stored(credential.fingerprint)
    return None if fingerprint is None else (credential, fingerprint)


async def _fresh(
    config: Config, endpoint: FingerprintEndpoint, provider: str, profile: str
) -> tuple[Credential, Fingerprint]:
    """Capture the installed Chromium now; a credential like a harvest would store."""
    executable = await anyio.to_thread.run_sync(find_chromium, config.browser.executable)
    args = [*config.browser.args, *endpoint.browser_args]
    browser = await Chromium.launch(executable, headless=config.browser.headless, args=args)
    try:
        capture = await capture_browser(browser, endpoint, calls=api_calls())
    finally:
        await browser.close()
    info = browser.info
    assert info is not None
    fingerprint = capture.fingerprint
    credential = Credential(
        provider=provider,
        profile=profile,
        user_agent=info.user_agent,
        browser_name="Chromium",
        browser_version=info.version,
        fingerprint=fingerprint.to_dict(),
        impersonate=impersonate_target(info.major),
        headers=tuple((k, v) for k, v in fingerprint.headers if not k.startswith(":")),
        harvested_at=time.time(),
    )
    return credential, fingerprint


class _Client:
    """The client's transports against the endpoint: one per protocol (a session learns
    its protocol from its first answer), each warmed by one request, so what is measured
    is a session in use (its first request is a documented difference)."""

    def __init__(self, config: ClientConfig, endpoint: FingerprintEndpoint, ca: Path) -> None:
        self._endpoint = endpoint
        self._transports = {http1: Transport(config, ca_bundle=ca) for http1 in (False, True)}
        # The sessions (protocol, harvest) that have made a request already.
        self._warm: set[tuple[bool, float | None]] = set()

    async def aclose(self) -> None:
        for transport in self._transports.values():
            await transport.aclose()

    async def page_load(self, credential: Credential, browser: Fingerprint) -> Fingerprint:
        """The client sending the page load's header list, with its own identity."""
        identity = {k.lower(): v for k, v in credential.headers}
        identity["user-agent"] = credential.user_agent or identity.get("user-agent", "")
        headers = [
            (name, identity.get(name.lower(), value))
            for name, value in browser.headers
            if not name.startswith(":")
        ]
        # A session's first request, on a fresh connection, like the browser's page load
        # (a later connection would resume the TLS session: another hello).
        return await self._send(credential, "GET", headers, None, http1=False, warm_up=False)

    async def call(
        self,
        credential: Credential,
        capture: CallCapture,
        fingerprint: Fingerprint,
        tamper: Callable[[ClientCall], ClientCall] | None,
    ) -> Fingerprint:
        """The client making ``capture``'s call as an adapter makes it."""
        # CDP reports a request's headers sorted by name: the client orders them itself.
        regular = sorted(capture.headers, key=lambda item: item[0].lower())
        cookie = "; ".join(v for k, v in regular if k.lower() == "cookie")
        length = next((v for k, v in regular if k.lower() == "content-length"), None)
        identity = {"user-agent": credential.user_agent or ""}
        harvested = [(k, identity.get(k.lower()) or v) for k, v in regular]
        headers = request_headers(
            harvested,
            cookie=cookie,
            content_length=None if length is None else int(length),
            shape=fingerprint.shape(capture.call),
        )
        planned = ClientCall(capture.call, capture.http, credential, headers)
        if tamper is not None:
            planned = tamper(planned)
        body = b"{}" if length is not None else None
        return await self._send(
            planned.credential,
            capture.call.method,
            planned.headers,
            body,
            http1=capture.http != "h2",
        )

    async def _send(
        self,
        credential: Credential,
        method: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        *,
        http1: bool,
        warm_up: bool = True,
    ) -> Fingerprint:
        local = dataclasses.replace(credential, proxy=None)  # the endpoint is on loopback
        transport = self._transports[http1]
        endpoint = self._endpoint
        session = (http1, credential.harvested_at)  # what the transport makes a session for
        if session in self._warm:
            warm_up = False
        self._warm.add(session)
        if warm_up:
            async with transport.request(
                local, "GET", endpoint.url(endpoint.new_token(), http1=http1), headers=headers
            ) as reply:
                await reply.body()
        token = endpoint.new_token()
        url = endpoint.url(token, http1=http1)
        async with transport.request(local, method, url, headers=headers, body=body) as reply:
            await reply.body()
        return (await endpoint.capture(token))[0].fingerprint


@contextlib.asynccontextmanager
async def _client(config: ClientConfig, endpoint: FingerprintEndpoint) -> AsyncIterator[_Client]:
    folder = await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "session-harvest-doctor-")
    try:
        ca = Path(folder) / "endpoint.pem"  # the endpoint's certificate, for curl to trust
        await anyio.Path(ca).write_bytes(endpoint.certificate_pem)
        client = _Client(config, endpoint, ca)
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, folder, True)


def _page_checks(browser: Fingerprint, client: Fingerprint) -> list[_Check]:
    # No HEADERS priority here: the client makes API calls, whose priority (a fetch's)
    # is checked with each call.
    checks = [
        _Check("JA4", browser.ja4, client.ja4),
        _Check("JA3 (sorted ext.)", browser.ja3_sorted, client.ja3_sorted),
        _Check("Akamai HTTP/2", browser.akamai, client.akamai),
        _Check("header order", ", ".join(browser.header_order), ", ".join(client.header_order)),
        _Check(
            "user agent", browser.header("user-agent") or "-", client.header("user-agent") or "-"
        ),
    ]
    checks += [
        _Check(name, browser.header(name) or "-", client.header(name) or "-")
        for name in _CLIENT_HINTS
        if browser.header(name) is not None or client.header(name) is not None
    ]
    return checks


def _call_checks(browser: CallCapture, seen: Fingerprint) -> list[_Check]:
    """One call, browser against client: order and spelling of the names, the names on
    one side only, HEADERS priority (HTTP/2), cookie fields, JA4H."""
    client = CallCapture(
        browser.call,
        seen.http,
        tuple((k, v) for k, v in seen.headers if not k.startswith(":")),
        seen.h2_headers_priority,
    )
    ours, theirs = _wire_names(browser), _wire_names(client)
    checks = [
        _Check("header order", ", ".join(ours), ", ".join(theirs)),
        _Check(
            "headers on one side",
            ", ".join(sorted(set(browser.names) - set(client.names))) or "none",
            ", ".join(sorted(set(client.names) - set(browser.names))) or "none",
        ),
        _Check("cookie fields", str(browser.cookie_fields), str(client.cookie_fields)),
        _Check("JA4H", _ja4h(browser), _ja4h(client)),
    ]
    if browser.http == "h2":
        checks.insert(
            2, _Check("HEADERS priority", _priority(browser.priority), _priority(client.priority))
        )
    return checks


def _wire_names(capture: CallCapture) -> list[str]:
    # On HTTP/1.1 curl writes Connection last, Chromium second: a documented difference
    # (HTTP/1.1 Connection position), so its place is left out of the order.
    return [n for n in capture.names if n != "Connection"]


def _ja4h(capture: CallCapture) -> str:
    # JA4H over names as sent; Connection's place aside, as in the order.
    headers = [(k, v) for k, v in capture.headers if k != "Connection"]
    return ja4h(capture.call.method, capture.http, headers)


def _priority(priority: tuple[int, int, int] | None) -> str:
    if priority is None:
        return "none"
    exclusive, dependency, weight = priority
    return f"exclusive={exclusive} depends-on={dependency} weight={weight}"
