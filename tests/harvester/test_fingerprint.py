"""The fingerprint endpoint, the browser's capture, the client's replay, ``harvest doctor``.

Browser and client are measured by the same endpoint; agreement is on JA4, JA3 with
sorted extensions, Akamai, HEADERS priority and header order.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from client import ClientConfig, Transport, describe_fingerprint
from client._cookies import cookie_header
from client.providers import api_calls
from fingerprint import (
    GET,
    POST_JSON,
    Fingerprint,
    ordered_headers,
    parse_client_hello,
    request_headers,
)
from harvester._browser import Chromium
from harvester._capture import _init, capture_browser
from harvester._endpoint import HOST as ENDPOINT_HOST
from harvester._endpoint import FingerprintEndpoint
from storage import Cookie, Credential, CredentialStore

from ..emulators.rig import Rig
from ..fingerprint.test_fingerprint import sigalg_grease_hello
from ..providers._cli import cli_env, run_cli

DATA = Path(__file__).resolve().parents[1] / "data"
CHROME_156_JA4 = "t13d1517h2_8daaf6152771_cb7bf5808d99"

pytestmark = pytest.mark.anyio


@pytest.fixture
async def endpoint() -> AsyncIterator[FingerprintEndpoint]:
    async with FingerprintEndpoint() as ep:
        yield ep


async def measure(
    endpoint: FingerprintEndpoint, credential: Credential, tmp_path: Path, **kw: Any
) -> Fingerprint:
    """What the endpoint sees from the client's transport, built from ``credential``."""
    headers = kw.get("headers")
    if headers is None:  # the browser's own header list, as captured
        fingerprint = Fingerprint.from_dict(credential.fingerprint or {})
        headers = [(k, v) for k, v in fingerprint.headers if not k.startswith(":")]
    ca = tmp_path / "endpoint.pem"
    await anyio.Path(ca).write_bytes(endpoint.certificate_pem)
    transport = Transport(ClientConfig(connect_timeout=5), ca_bundle=ca)
    token = endpoint.new_token()
    try:
        local = dataclasses.replace(credential, proxy=None)
        async with transport.request(local, "GET", endpoint.url(token), headers=headers) as reply:
            assert reply.status == 200
            summary = json.loads(await reply.body())
    finally:
        await transport.aclose()
    (capture,) = await endpoint.capture(token, within=10)
    assert summary["ja4"] == capture.fingerprint.ja4  # the answer reports the same
    return capture.fingerprint


def assert_same(browser: Fingerprint, client: Fingerprint) -> None:
    """The client sending a page load's headers looks like the browser's page load. (Its
    HEADERS priority is an API call's, a fetch's, when calls were captured: checked with
    the calls.)"""
    assert client.ja4_r == browser.ja4_r  # the raw form: a difference shows what differs
    assert client.ja4 == browser.ja4
    assert client.ja3_sorted == browser.ja3_sorted
    assert client.akamai == browser.akamai
    if not browser.calls:
        assert client.h2_headers_priority == browser.h2_headers_priority
    assert client.header_order == browser.header_order


def recorded(name: str) -> tuple[dict[str, Any], Credential]:
    data = json.loads((DATA / name).read_text())
    # Replayed as if a newer browser had been captured: the nearest target is
    # chrome150 whatever the recording was, so the replay cannot lean on the target.
    credential = Credential(
        provider="cloudflare",
        browser_version="156.0.8078.79",
        impersonate="chrome150",
        fingerprint=data["fingerprint"],
    )
    return data, credential


# -- the endpoint ---------------------------------------------------------------------------


async def test_malformed_connections_get_errors_and_the_endpoint_keeps_serving(
    endpoint: FingerprintEndpoint, tmp_path: Path
) -> None:
    hello = sigalg_grease_hello()
    for payload in (b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", hello[:100], b"\x16\x03\x01\xff\xff"):
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b""  # the endpoint hangs up, it does not wait
    with anyio.fail_after(10):
        while len(endpoint.errors) < 3:  # noqa: ASYNC110 - the endpoint's threads record them
            await anyio.sleep(0.01)
    assert "this is plain HTTP, not TLS" in endpoint.errors
    assert "the client closed before its ClientHello was complete" in endpoint.errors
    assert any("not valid here" in e for e in endpoint.errors)
    data, credential = recorded("chrome131_capture.json")
    client = await measure(endpoint, credential, tmp_path)
    assert client.ja4 == Fingerprint.from_dict(data["fingerprint"]).ja4


async def test_an_http1_client_is_captured_too(endpoint: FingerprintEndpoint) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    token = endpoint.new_token()

    def fetch() -> bytes:
        request = f"GET /fingerprint/{token} HTTP/1.1\r\nHost: localhost\r\nX-B: 1\r\n\r\n"
        with (
            socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(request.encode())
            return tls.recv(65536)

    answer = await anyio.to_thread.run_sync(fetch)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    (capture,) = await endpoint.capture(token, within=10)
    assert capture.fingerprint.http == "http/1.1"
    assert capture.fingerprint.akamai == ""
    assert capture.fingerprint.header_order == ("host", "x-b")
    assert parse_client_hello(capture.hello).alpn == (b"http/1.1",)


# -- replay of recorded captures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "named"),
    [
        # Recorded before API calls were captured: their order falls back to the rule.
        ("chrome131_capture.json", "API-call order (not captured)"),
        ("firefox135_capture.json", "API-call order (not captured)"),
        # Chromium 156 with every provider's calls: what curl cannot send is TLS residue.
        ("chromium156_capture.json", "grease sigalg, trust-anchor order"),
    ],
)
async def test_a_recorded_capture_is_replayed_whatever_chromium_is_installed(
    endpoint: FingerprintEndpoint, tmp_path: Path, name: str, named: str
) -> None:
    data, credential = recorded(name)
    browser = Fingerprint.from_dict(data["fingerprint"])
    # The stored raw hello is what the fingerprint was read from.
    assert Fingerprint.from_wire(parse_client_hello(bytes.fromhex(data["hello"]))).ja4 == (
        browser.ja4
    )
    client = await measure(endpoint, credential, tmp_path)
    assert_same(browser, client)
    assert describe_fingerprint(credential) == (
        f"nearest chrome150, differs in {named} (+4 curl limits)"
    )
    # Without the capture, the nearest target alone does not look like the recording.
    naive = await measure(
        endpoint,
        dataclasses.replace(credential, fingerprint=None),
        tmp_path,
        headers=[(k, v) for k, v in browser.headers if not k.startswith(":")],
    )
    assert naive.ja4 != browser.ja4


# -- real Chromium ----------------------------------------------------------------------------


@pytest.mark.browser
async def test_chromium_and_the_client_built_from_its_capture_agree(
    endpoint: FingerprintEndpoint, chromium: str, tmp_path: Path
) -> None:
    browser = await Chromium.launch(Path(chromium), args=endpoint.browser_args)
    try:
        capture = await capture_browser(browser, endpoint)
    finally:
        await browser.close()
    assert browser.info is not None
    captured = capture.fingerprint
    assert captured.permuted is True  # Chrome shuffles its extensions per connection
    assert captured.pseudo_order == ("m", "a", "s", "p")
    assert captured.header("user-agent") == browser.info.user_agent
    assert "HeadlessChrome" not in (captured.header("user-agent") or "")
    credential = Credential(
        provider="cloudflare",
        user_agent=browser.info.user_agent,
        browser_version=browser.info.version,
        impersonate="chrome150",
        fingerprint=captured.to_dict(),
    )
    client = await measure(endpoint, credential, tmp_path)
    assert_same(captured, client)
    if browser.info.version == "156.0.8078.79":  # the machine the issue measured
        assert captured.ja4 == CHROME_156_JA4
        assert describe_fingerprint(credential) == (
            "nearest chrome150, differs in grease sigalg, trust-anchor order (+4 curl limits)"
        )


# The generic GET and JSON POST, and every provider's own call, as the capture makes them.
_FETCHES = {
    "get" if call == GET else "post" if call == POST_JSON else call.label: json.dumps(_init(call))
    for call in api_calls()
}


async def _request_shapes(
    browser: Chromium, endpoint: FingerprintEndpoint, *, identity: bool
) -> dict[str, list[tuple[str, str]]]:
    """The headers (in wire order) of a page load and of a same-origin fetch GET and
    POST from that page, with the harvest's identity override or with none."""
    assert browser.info is not None
    page = await browser.new_page()
    try:
        if identity:
            await page.set_user_agent(browser.info)
        token = endpoint.new_token()
        await page.navigate(endpoint.url(token))
        (document,) = await endpoint.capture(token)
        shapes = {"document": list(document.fingerprint.headers)}
        for kind, init in _FETCHES.items():
            token = endpoint.new_token()
            # The endpoint answers one request per connection and closes it: a fetch
            # that races the page's closing connection is tried once more, so the token
            # may arrive twice (the first request was read, its answer lost); both carry
            # the same shape, as the harvester's capture assumes when it takes the first.
            url = json.dumps(endpoint.url(token))
            call = f"fetch({url}, {init}).catch(() => fetch({url}, {init})).then(r => r.text())"
            await page.evaluate(call, await_promise=True)
            fetched = (await endpoint.capture(token))[0]
            shapes[kind] = list(fetched.fingerprint.headers)
        return shapes
    finally:
        await page.close()


@pytest.mark.browser
async def test_the_identity_override_keeps_stock_chromiums_header_order(
    endpoint: FingerprintEndpoint, chromium: str
) -> None:
    # The harvesting browser earns the clearance: it must send what stock Chromium
    # sends. An override with acceptLanguage moved Accept-Language up in every request.
    browser = await Chromium.launch(Path(chromium), args=endpoint.browser_args)
    try:
        ours = await _request_shapes(browser, endpoint, identity=True)
        stock = await _request_shapes(browser, endpoint, identity=False)
    finally:
        await browser.close()
    assert browser.info is not None
    assert len(ours) == len(_FETCHES) + 1 == 7
    for kind in ours:
        assert [k for k, _ in ours[kind]] == [k for k, _ in stock[kind]], kind
        mine, theirs = dict(ours[kind]), dict(stock[kind])
        assert mine["accept-language"] == theirs["accept-language"] == "en-US,en;q=0.9"
        assert mine["user-agent"] == browser.info.user_agent
        assert "HeadlessChrome" not in mine["user-agent"]
    # The client's rule for API calls orders these exactly as Chromium sent them.
    for kind in ("get", "post"):
        sent = [(k, v) for k, v in ours[kind] if not k.startswith(":")]
        length = dict(sent).get("content-length")
        rebuilt = request_headers(
            reversed(sent), content_length=int(length) if length is not None else None
        )
        # As curl puts them on HTTP/2: every name lower-cased, no Connection.
        on_h2 = [k.lower() for k, _ in rebuilt if k != "Connection"]
        assert on_h2 == [k for k, _ in sent], kind


@pytest.mark.browser
async def test_chromium_over_http1_names_its_headers_in_canonical_case(
    chromium: str, tmp_path: Path
) -> None:
    # What an HTTP/1.1-only site sees (the facts the client's HTTP/1.1 replay follows):
    # Host and Connection: keep-alive first, Chromium's own names in canonical case,
    # the client hints in lower case, page-set names as the page wrote them, and no
    # Priority header (an HTTP/2 and HTTP/3 one).
    async with FingerprintEndpoint(protocols=("http/1.1",)) as endpoint:
        browser = await Chromium.launch(Path(chromium), args=endpoint.browser_args)
        try:
            shapes = await _request_shapes(browser, endpoint, identity=True)
        finally:
            await browser.close()
    names = {kind: [k for k, _ in headers] for kind, headers in shapes.items()}
    for kind, headers in shapes.items():
        assert names[kind][:2] == ["Host", "Connection"], kind
        assert dict(headers)["Connection"] == "keep-alive"
        assert "priority" not in {n.lower() for n in names[kind]}
        assert {"User-Agent", "Accept-Encoding", "Accept-Language"} <= set(names[kind])
        # Accept as Chromium writes its own, or as the script wrote it when it set one.
        assert ("accept" if "+ accept" in kind else "Accept") in names[kind]
        assert {"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"} <= set(names[kind])
    assert names["get"][2:] == [
        "sec-ch-ua-platform",
        "User-Agent",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "Accept",
        "Sec-Fetch-Site",
        "Sec-Fetch-Mode",
        "Sec-Fetch-Dest",
        "Referer",
        "Accept-Encoding",
        "Accept-Language",
    ]
    assert names["post"][2] == "Content-Length"
    assert "content-type" in names["post"]  # as the page's script wrote it
    assert "Origin" in names["post"]

    # The client, from the same request as a harvest stores it (lower case), to the
    # same HTTP/1.1-only endpoint: the same names in the same case and order, but for
    # Connection, which curl writes after the other headers (it builds that line itself).
    assert browser.info is not None
    stored = ordered_headers(shapes["get"], document=False)
    credential = Credential(
        provider="cloudflare",
        user_agent=browser.info.user_agent,
        browser_version=browser.info.version,
        impersonate="chrome150",
    )
    async with FingerprintEndpoint(protocols=("http/1.1",)) as endpoint:
        client = await measure(endpoint, credential, tmp_path, headers=request_headers(stored))
    sent = [k for k, _ in client.headers]
    assert sent[-1] == "Connection"
    assert [n for n in sent if n != "Connection"] == [n for n in names["get"] if n != "Connection"]


@pytest.mark.browser
@pytest.mark.parametrize(
    ("protocols", "fields"),
    [
        pytest.param(
            ("h2", "http/1.1"), [("cookie", "a=1"), ("cookie", "b=2"), ("cookie", "c=3")], id="h2"
        ),
        pytest.param(("http/1.1",), [("Cookie", "a=1; b=2; c=3")], id="http1"),
    ],
)
async def test_cookies_go_out_in_the_fields_chromium_uses(
    chromium: str, tmp_path: Path, protocols: tuple[str, ...], fields: list[tuple[str, str]]
) -> None:
    # Measured: Chromium sends one HTTP/2 cookie field per cookie, one joined line on
    # HTTP/1.1. The client does too once its session has seen which protocol it speaks.
    cookies = [
        Cookie(name, value, domain=ENDPOINT_HOST)
        for name, value in (("a", "1"), ("b", "2"), ("c", "3"))
    ]
    async with FingerprintEndpoint(protocols=protocols) as endpoint:
        browser = await Chromium.launch(Path(chromium), args=endpoint.browser_args)
        try:
            assert browser.info is not None
            page = await browser.new_page()
            await page.set_user_agent(browser.info)
            await page.set_cookies(cookies)
            token = endpoint.new_token()
            await page.navigate(endpoint.url(token))
            (document,) = await endpoint.capture(token)
            await page.close()
        finally:
            await browser.close()
        chromium_fields = [(k, v) for k, v in document.fingerprint.headers if k.lower() == "cookie"]
        assert chromium_fields == fields
        ca = tmp_path / "endpoint.pem"
        await anyio.Path(ca).write_bytes(endpoint.certificate_pem)
        transport = Transport(ClientConfig(connect_timeout=5), ca_bundle=ca)
        credential = Credential(provider="cloudflare", impersonate="chrome150")
        sent = request_headers([("accept", "*/*")], cookie=cookie_header(cookies))
        seen = []
        try:
            for _ in range(2):
                token = endpoint.new_token()
                async with transport.request(
                    credential, "GET", endpoint.url(token), headers=sent
                ) as reply:
                    await reply.body()
                (capture,) = await endpoint.capture(token)
                seen.append(
                    [(k, v) for k, v in capture.fingerprint.headers if k.lower() == "cookie"]
                )
        finally:
            await transport.aclose()
    # The first answer tells the session its protocol: from the second request on, the
    # fields are Chromium's (the first one's single field is valid on both protocols).
    assert seen[0] == [(fields[0][0], "a=1; b=2; c=3")]
    assert seen[1] == fields


@pytest.mark.browser
async def test_every_harvested_credential_carries_its_browsers_fingerprint(
    harvested: dict[str, Credential],
) -> None:
    ja4s = set()
    for credential in harvested.values():
        assert credential.fingerprint is not None
        fingerprint = Fingerprint.from_dict(credential.fingerprint)
        assert credential.fingerprint["derived"]["ja4"] == fingerprint.ja4
        assert fingerprint.header("user-agent") == credential.user_agent
        # With the API calls Chromium made at capture: every provider's, both protocols.
        captured = {(c.call, c.http) for c in fingerprint.calls}
        assert captured == {(call, http) for call in api_calls() for http in ("h2", "http/1.1")}
        ja4s.add(fingerprint.ja4)
    assert len(ja4s) == 1  # one browser harvested them all


# -- harvest doctor ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("headless", [True, False], ids=["headless", "headful"])
async def test_doctor_with_a_fresh_capture_finds_every_line_matching(
    rig: Rig, chromium: str, tmp_path: Path, headless: bool
) -> None:
    # Headful runs on an Xvfb of its own (no display here): the same capture, the same
    # identity, the same verdict.
    env = cli_env(rig, tmp_path, chromium, headless=headless)
    code, out, err = await run_cli(["doctor"], env)
    assert code == 0, out + err
    assert "captured just now" in out
    assert "curl_cffi 0.16.3" in out
    lines = out.splitlines()
    names = ["JA4", "JA3", "Akamai", "header", "user", "sec-ch-ua"]
    for name in names:
        assert any(line.startswith(name) and line.endswith("match") for line in lines)
    # Every provider's calls and the generic ones, over HTTP/2 and HTTP/1.1: 12.
    calls = [line for line in lines if line.startswith("match    ")]
    assert len(calls) == 12, out
    assert "match    GET + accept, x-zerogpu-token, x-zerogpu-uuid over h2" in calls
    assert "DIFFERS" not in out
    # 8 page-load lines; 5 per HTTP/2 call, 4 per HTTP/1.1 call (no HEADERS priority).
    assert out.rstrip().endswith("verdict: all 62 match")


@pytest.mark.browser
async def test_doctor_checks_a_stored_credential_and_fails_when_it_cannot_match(
    rig: Rig, chromium: str, tmp_path: Path, harvested: dict[str, Credential]
) -> None:
    env = cli_env(rig, tmp_path, chromium)
    credential = harvested["flowgpt"]
    async with CredentialStore.open(tmp_path / "credentials.db") as store:
        await store.put(credential)
    code, out, err = await run_cli(["doctor", "flowgpt"], env)
    assert code == 0, out + err
    assert f"Chromium {credential.browser_version}, captured when flowgpt/default" in out
    assert "verdict: all 35 match" in out  # the page load, the generic calls, flowgpt's

    # A capture with a cipher curl_cffi does not know cannot be replayed exactly.
    broken = Fingerprint.from_dict(credential.fingerprint or {})
    broken = dataclasses.replace(broken, ciphers=(*broken.ciphers, 0x00FF))
    async with CredentialStore.open(tmp_path / "credentials.db") as store:
        await store.put(dataclasses.replace(credential, fingerprint=broken.to_dict()))
    code, out, _ = await run_cli(["doctor", "flowgpt"], env)
    assert code == 1
    assert "JA4                DIFFERS" in out
    assert "cipher 0x00ff" in out
    assert "verdict: 2 of 35 differ (JA4, JA3 (sorted ext.))" in out
