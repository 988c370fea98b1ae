"""The replay plan: the curl options that reproduce a captured fingerprint."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from client import ClientConfig, CredentialRejected, NetworkError, Transport, plan_replay
from fingerprint import (
    GET,
    POST_JSON,
    CallCapture,
    Fingerprint,
    parse_client_hello,
    parse_h2_opening,
)
from storage import Credential

from ..fingerprint.test_fingerprint import chrome_opening, sigalg_grease_hello


def test_the_replay_plan_names_what_curl_cffi_cannot_reproduce() -> None:
    opening = parse_h2_opening(chrome_opening())
    fp = Fingerprint.from_wire(
        parse_client_hello(sigalg_grease_hello()), opening=opening, permuted=True
    )
    replay = plan_replay(fp, "chrome150")
    assert replay.describe() == (
        "nearest chrome150, differs in grease sigalg, API-call order (not captured) "
        "(+4 curl limits)"
    )
    assert set(replay.residue) == {
        "h2 dependency on open streams",
        "h2 PING/GOAWAY/WINDOW_UPDATE/HPACK",
        "cookie fields of a session's first request",
        "HTTP/1.1 Connection position",
    }
    options = dict(replay.options)
    assert options["TLS_TRUST_ANCHORS"] == "44947.2.1"
    assert options["SSL_SIG_HASH_ALGS"].startswith("mldsa44,mldsa65,mldsa87,ecdsa_secp256r1")
    assert options["SSL_EC_CURVES"] == "X25519MLKEM768:X25519:P-256:P-384"
    assert options["SSL_PERMUTE_EXTENSIONS"] == 1
    assert options["TLS_USE_NEW_ALPS_CODEPOINT"] == 1
    assert options["ECH"] == "grease"
    assert options["HTTP2_SETTINGS"] == "1:65536;2:0;4:6291456;6:262144"
    assert options["HTTP2_PSEUDO_HEADERS_ORDER"] == "masp"
    # Only a page load was captured, and the calls' urgency is not given: its weight.
    assert (options["STREAM_WEIGHT"], options["STREAM_EXCLUSIVE"]) == (256, 1)
    unknown = plan_replay(
        Fingerprint(legacy_version=0x0303, ciphers=(0x1301, 0x00FF), extensions=()), "chrome150"
    )
    assert unknown.describe() == "nearest chrome150, differs in cipher 0x00ff"
    exact = plan_replay(
        Fingerprint(legacy_version=0x0303, ciphers=(0x1301,), extensions=(10,), groups=(29,)),
        "chrome150",
    )
    assert exact.describe() == "exact"


def test_an_api_calls_headers_priority_is_chromiums_for_a_fetch() -> None:
    # Chromium sends weight 220 with "priority: u=1, i" on a fetch, 256 (u=0) on a page
    # load: the client's calls must not pair the page load's weight with u=1.
    opening = parse_h2_opening(chrome_opening())
    page_load = Fingerprint.from_wire(parse_client_hello(sigalg_grease_hello()), opening=opening)
    assert page_load.h2_headers_priority == (1, 0, 256)

    def weight(fp: Fingerprint, header: str | None = None) -> tuple[object, object]:
        options = dict(plan_replay(fp, "chrome150", priority_header=header).options)
        return options["STREAM_WEIGHT"], options["STREAM_EXCLUSIVE"]

    # Without captured calls: the weight Chromium gives the calls' urgency.
    assert weight(page_load, "u=1, i") == (220, 1)
    assert weight(page_load, "u=0, i") == (256, 1)
    assert weight(page_load, "u=4") == (110, 1)
    # With them: what Chromium sent for them.
    calls = tuple(
        CallCapture(call, "h2", (("accept", "*/*"),), (1, 0, 183)) for call in (GET, POST_JSON)
    )
    captured = dataclasses.replace(page_load, calls=calls)
    assert weight(captured, "u=1, i") == (183, 1)
    replay = plan_replay(captured, "chrome150")
    assert not any("API-call" in d or "per call" in d for d in replay.differs)
    mixed = dataclasses.replace(
        captured, calls=(calls[0], dataclasses.replace(calls[1], priority=(1, 0, 220)))
    )
    assert "HEADERS priority per call" in plan_replay(mixed, "chrome150").differs


@pytest.mark.anyio
async def test_a_failing_proxy_is_named_but_its_address_is_not() -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        unused_port = probe.getsockname()[1]
    proxy = f"http://127.0.0.1:{unused_port}"
    credential = Credential("cloudflare", impersonate="chrome", proxy=proxy)
    transport = Transport(ClientConfig(connect_timeout=5))
    try:
        with pytest.raises(NetworkError) as failed:
            async with transport.request(
                credential, "GET", "https://playground.ai.cloudflare.com/", headers=[]
            ):
                pass
    finally:
        await transport.aclose()
    message = str(failed.value)
    assert message.startswith("playground.ai.cloudflare.com: connection failed")
    assert "the proxy" in message
    assert str(unused_port) not in message
    assert "127.0.0.1" not in message


@pytest.mark.anyio
async def test_a_proxy_password_comes_from_the_config_for_the_same_exit_only() -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configured = {"cloudflare": f"http://user:pw-SECRET-4@127.0.0.1:{port}"}
    stored = Credential(
        "cloudflare", impersonate="chrome", proxy=f"http://user:[secure]@127.0.0.1:{port}"
    )
    url = "https://playground.ai.cloudflare.com/"
    transport = Transport(ClientConfig(connect_timeout=5), proxy_for=configured.get)
    try:
        # The same exit: the configured password is used (the proxy is down here).
        with pytest.raises(NetworkError, match="the proxy"):
            async with transport.request(stored, "GET", url, headers=[]):
                pass
        # Another exit in the config now: the credential is refused, not replayed.
        configured["cloudflare"] = "http://user:pw-SECRET-4@127.0.0.1:9"
        with pytest.raises(CredentialRejected) as refused:
            async with transport.request(stored, "GET", url, headers=[]):
                pass
    finally:
        await transport.aclose()
    message = str(refused.value)
    assert f"harvested through the proxy http://user:[secure]@127.0.0.1:{port}" in message
    assert "the config now names http://user:[secure]@127.0.0.1:9" in message
    assert "SECRET" not in message
