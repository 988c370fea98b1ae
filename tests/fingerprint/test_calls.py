"""API calls: what Chromium sent for each kind (recorded from Chromium 156), and the
client's headers built from it; JA4H; Chromium's HTTP/2 weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fingerprint import (
    GET,
    POST_JSON,
    Call,
    CallCapture,
    Fingerprint,
    calls_from_stored,
    calls_to_stored,
    chromium_weight,
    ja4h,
    request_headers,
    shape_for,
    urgency_of,
)

RECORDED = Path(__file__).resolve().parents[1] / "data" / "chromium156_capture.json"
SIGNED = Call(
    "POST",
    "application/json",
    ("x-timestamp", "authorization", "x-nonce", "X-Signature", "x-flow-device-id"),
)


def recorded() -> Fingerprint:
    return Fingerprint.from_dict(json.loads(RECORDED.read_text())["fingerprint"])


def test_a_call_is_named_by_its_method_body_type_and_header_names_in_any_order() -> None:
    names = ("x-nonce", "authorization", "x-signature", "x-timestamp", "x-flow-device-id")
    same = Call("post", "application/json", names)
    assert same == SIGNED
    assert hash(same) == hash(SIGNED)
    assert SIGNED.label == (
        "POST application/json + authorization, x-flow-device-id, x-nonce, x-signature, x-timestamp"
    )
    assert SIGNED.script_headers()["content-type"] == "application/json"
    assert Call.from_dict(SIGNED.to_dict()) == SIGNED
    assert GET.label == "GET"
    assert GET.script_headers() == {}


def test_a_recorded_capture_keeps_every_call_over_both_protocols() -> None:
    fingerprint = recorded()
    again = Fingerprint.from_dict(json.loads(json.dumps(fingerprint.to_dict())))
    assert again.calls == fingerprint.calls
    assert calls_from_stored(fingerprint.to_dict()) == fingerprint.calls
    kinds = {(c.call, c.http) for c in fingerprint.calls}
    assert (SIGNED, "h2") in kinds
    assert (SIGNED, "http/1.1") in kinds
    for capture in fingerprint.calls:
        if capture.http == "h2":
            # A fetch: weight 220 (a page load's is 256), with "priority: u=1, i".
            assert capture.priority == (1, 0, 220)
            assert dict(capture.headers)["priority"] == "u=1, i"
            assert capture.cookie_fields == 2  # one field per cookie
        else:
            assert capture.priority is None
            assert capture.names[:2] == ("Host", "Connection")
            assert capture.cookie_fields == 1  # one joined line
    # Older captures had none: nothing, not an error.
    assert calls_from_stored({"ciphers": []}) == ()
    assert calls_from_stored({"calls": [{"call": {}}]}) == ()


def test_chromium_interleaves_page_set_headers_with_its_own() -> None:
    # What no rule predicted: FlowGPT's five signing headers go between the client hints,
    # and user-agent moves after them.
    shape = recorded().shape(SIGNED)
    assert shape is not None
    assert shape.order[:11] == (
        "content-length",
        "sec-ch-ua-platform",
        "authorization",
        "sec-ch-ua",
        "x-flow-device-id",
        "x-nonce",
        "sec-ch-ua-mobile",
        "x-timestamp",
        "x-signature",
        "user-agent",
        "content-type",
    )
    assert shape.case["user-agent"] == "User-Agent"  # as HTTP/1.1 spells it
    assert shape.case["x-nonce"] == "x-nonce"  # as the script wrote it
    assert shape_for(recorded().calls, Call("PUT")) is None


def test_the_client_builds_a_calls_headers_in_the_captured_order() -> None:
    fingerprint = recorded()
    for capture in fingerprint.calls:
        if capture.http != "h2":
            continue
        # As CDP reports a request's headers: sorted by name.
        sent = sorted(capture.headers)
        length = dict(sent).get("content-length")
        cookie = "; ".join(v for k, v in sent if k == "cookie")
        built = request_headers(
            sent,
            cookie=cookie,
            content_length=None if length is None else int(length),
            shape=fingerprint.shape(capture.call),
        )
        names = [k.lower() for k, _ in built if k != "Connection"]
        assert names == list(dict.fromkeys(capture.names)), capture.call.label


def test_a_header_the_capture_lacks_goes_where_page_set_headers_go() -> None:
    shape = recorded().shape(POST_JSON)
    assert shape is not None
    built = request_headers(
        [("accept", "*/*"), ("user-agent", "UA"), ("sec-ch-ua-platform", '"Linux"')],
        [("x-extra", "1")],
        shape=shape,
    )
    assert [k for k, _ in built] == [
        "Connection",
        "sec-ch-ua-platform",
        "x-extra",
        "User-Agent",
        "Accept",
    ]


def test_ja4h_reads_method_version_cookies_referer_and_language() -> None:
    headers = [
        ("accept-language", "en-US,en;q=0.9"),
        ("cookie", "b=2"),
        ("cookie", "a=1"),
        ("referer", "https://x.test/"),
        ("accept", "*/*"),
    ]
    value = ja4h("GET", "h2", headers)
    a, names, cookie_names, cookies = value.split("_")
    assert a == "ge20cr02enus"  # two headers besides cookie and referer
    reordered = ja4h("GET", "h2", [headers[4], headers[0], headers[2], headers[1], headers[3]])
    # Header order changes the names' hash only; cookies count sorted, however sent.
    assert reordered.split("_")[1] != names
    assert reordered.split("_")[2:] == [cookie_names, cookies]
    assert (
        ja4h("GET", "h2", [headers[1]]).split("_")[2:]
        == ja4h("GET", "h2", [("cookie", "b=2")]).split("_")[2:]
    )
    assert ja4h("POST", "http/1.1", [("Accept", "*/*")]) == (
        "po11nn010000_" + _sha12("Accept") + "_000000000000_000000000000"
    )


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def test_chromium_weights_follow_the_urgency() -> None:
    assert [chromium_weight(u) for u in range(5)] == [256, 220, 183, 147, 110]
    assert urgency_of("u=1, i") == 1
    assert urgency_of("i, u=0") == 0
    assert urgency_of("i") is None
    assert urgency_of(None) is None


def test_call_captures_share_one_table_of_strings_when_stored() -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0"
    captures = (
        CallCapture(GET, "h2", (("user-agent", ua), ("accept", "*/*")), (1, 0, 220)),
        CallCapture(GET, "http/1.1", (("User-Agent", ua), ("Accept", "*/*"))),
    )
    stored = calls_to_stored(captures)
    # Each name and value once.
    assert stored["call_strings"] == ["user-agent", ua, "accept", "*/*", "User-Agent", "Accept"]
    assert stored["calls"][1]["headers"] == "4:1 5:3"
    assert calls_from_stored(json.loads(json.dumps(stored))) == captures
    # A stored form that does not add up is no captures, not an error.
    assert calls_from_stored({**stored, "call_strings": [ua]}) == ()
