"""``harvest doctor``: does the client look like the browser, as a server sees it?

One fingerprint endpoint measures both sides. The browser side is the fingerprint
stored with the credential (or a fresh capture from Chromium when there is none);
the client side is one request from the client's own transport, built from that
credential, carrying the browser's header list with the credential's user agent and
client hints. Each line gets a verdict; the exit code is 0 only when all match.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from client import Config, Transport, curl_cffi_version, impersonate_target, replay_for
from client.providers import provider_names, recipe_for
from fingerprint import Fingerprint
from storage import Credential, CredentialStore

from ._browser import Chromium, find_chromium
from ._capture import capture_browser
from ._endpoint import FingerprintEndpoint
from ._status import relative_time

__all__ = ["run_doctor"]

_CLIENT_HINTS = ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")


@dataclass(frozen=True)
class _Check:
    name: str
    browser: str
    client: str

    @property
    def ok(self) -> bool:
        return self.browser == self.client


async def run_doctor(
    config: Config, provider: str | None, profile: str, say: Callable[[str], None]
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
        client = await _measure_client(config, endpoint, credential, fingerprint)
    replay = replay_for(credential)
    how = (
        f"{replay.target} + {len(replay.options)} options from the capture"
        if replay is not None
        else credential.impersonate or "chrome"
    )
    checks = _checks(fingerprint, client)
    say(f"browser  {source}")
    say(f"client   curl_cffi {curl_cffi_version()}, {how}")
    say("")
    for check in checks:
        verdict = "match" if check.ok else "DIFFERS"
        say(f"{check.name:<19}{verdict}")
        say(f"    browser  {check.browser}")
        say(f"    client   {check.client}")
    if replay is not None and replay.differs:
        say("")
        say(
            f"not reproducible by curl_cffi: {', '.join(replay.differs)} "
            "(outside JA4, sorted JA3 and Akamai)"
        )
    failed = [c.name for c in checks if not c.ok]
    say("")
    if failed:
        say(f"verdict: {len(failed)} of {len(checks)} differ ({', '.join(failed)})")
        return 1
    say(f"verdict: all {len(checks)} match")
    return 0


async def _stored(
    config: Config, provider: str, profile: str
) -> tuple[Credential, Fingerprint] | None:
    """The stored credential and its readable fingerprint, if it has both."""
    if not await CredentialStore.exists(config.database):
        return None
    async with CredentialStore.open(config.database) as store:
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
        capture = await capture_browser(browser, endpoint)
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


async def _measure_client(
    config: Config, endpoint: FingerprintEndpoint, credential: Credential, browser: Fingerprint
) -> Fingerprint:
    """What the endpoint sees when the client, built from ``credential``, calls it."""
    # The browser's header list and order, with the identity the client presents.
    identity = {k.lower(): v for k, v in credential.headers}
    identity["user-agent"] = credential.user_agent or identity.get("user-agent", "")
    headers = [
        (name, identity.get(name.lower(), value))
        for name, value in browser.headers
        if not name.startswith(":")
    ]
    local = dataclasses.replace(credential, proxy=None)  # the endpoint is on loopback
    folder = await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "session-harvest-doctor-")
    try:
        ca = Path(folder) / "endpoint.pem"  # the endpoint's certificate, for curl to trust
        await anyio.Path(ca).write_bytes(endpoint.certificate_pem)
        transport = Transport(config.client, ca_bundle=ca)
        try:
            token = endpoint.new_token()
            async with transport.request(local, "GET", endpoint.url(token), headers=headers) as r:
                await r.body()
        finally:
            await transport.aclose()
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, folder, True)
    (capture,) = await endpoint.capture(token)
    return capture.fingerprint


def _checks(browser: Fingerprint, client: Fingerprint) -> list[_Check]:
    checks = [
        _Check("JA4", browser.ja4, client.ja4),
        _Check("JA3 (sorted ext.)", browser.ja3_sorted, client.ja3_sorted),
        _Check("Akamai HTTP/2", browser.akamai, client.akamai),
        _Check(
            "HEADERS priority",
            _priority(browser.h2_headers_priority),
            _priority(client.h2_headers_priority),
        ),
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


def _priority(priority: tuple[int, int, int] | None) -> str:
    if priority is None:
        return "none"
    exclusive, dependency, weight = priority
    return f"exclusive={exclusive} depends-on={dependency} weight={weight}"
