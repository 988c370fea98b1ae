"""The ClientHello and HTTP/2 parsers, JA3/JA4/Akamai, storage and replay plans."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprint import (
    PREFACE,
    Fingerprint,
    FingerprintError,
    H2Error,
    H2Incomplete,
    HelloError,
    HelloIncomplete,
    UnreadableFingerprint,
    encode_headers,
    hello_length,
    is_grease,
    ja4_alpn,
    parse_client_hello,
    parse_h2_opening,
)

from ._hellos import (
    alpn,
    client_hello,
    extension,
    groups,
    key_shares,
    sigalgs,
    sni,
    versions,
)

# FoxIO's reference output for a Chrome hello with a GREASE signature algorithm
# (python/test/testdata/sigalg-grease.pcapng.json in FoxIO-LLC/ja4), with the
# hello's original order from its JA4_ro.
SIGALG_GREASE_JA4 = "t13d1517h2_8daaf6152771_cb7bf5808d99"
SIGALG_GREASE_JA4_R = (
    "t13d1517h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
    "0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,ca34,fe0d,ff01_"
    "0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601"
)
CHROME_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
CHROME_CIPHERS += [0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
CHROME_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def sigalg_grease_hello(**kwargs: int) -> bytes:
    """The reference vector's hello, GREASE included where Chrome puts it."""
    body = {
        0xFE0D: b"\x00" * 10,
        0x0017: b"",
        0x44CD: b"\x00\x03\x02h2",
        0xFF01: b"\x00",
        0x000B: b"\x01\x00",
        0x0023: b"",
        0xCA34: b"\x00\x06\x05\x82\xdf\x13\x02\x01",
        0x002D: b"\x01\x01",
        0x0005: b"\x01\x00\x00\x00\x00",
        0x001B: b"\x02\x00\x02",
        0x0012: b"",
    }
    extensions = [extension(0x2A2A)]
    for kind in (0xFE0D, 0x0010, 0x0017, 0x0033, 0x44CD, 0xFF01, 0x000A, 0x000D, 0x0023):
        extensions.append(_named(kind, body))
    for kind in (0x002B, 0x000B, 0xCA34, 0x002D, 0x0000, 0x0005, 0x001B, 0x0012):
        extensions.append(_named(kind, body))
    extensions.append(extension(0x3A3A, b"\x00"))
    return client_hello([0x8A8A, *CHROME_CIPHERS], extensions, **kwargs)


def _named(kind: int, bodies: dict[int, bytes]) -> tuple[int, bytes]:
    special = {
        0x0010: alpn(b"h2", b"http/1.1"),
        0x0033: key_shares(0x1A1A, 4588, 29),
        0x000A: groups(0x1A1A, 4588, 29, 23, 24),
        0x000D: sigalgs(0x5A5A, 0x0904, 0x0905, 0x0906, *CHROME_SIGALGS),
        0x002B: versions(0x7A7A, 0x0304, 0x0303),
        0x0000: sni("optimizationguide-pa.googleapis.com"),
    }
    return special.get(kind) or extension(kind, bodies[kind])


def fingerprint(data: bytes) -> Fingerprint:
    return Fingerprint.from_wire(parse_client_hello(data))


# -- JA4 against the reference vectors ---------------------------------------------------


def test_the_sigalg_grease_reference_vector_gives_foxios_ja4_and_raw_form() -> None:
    fp = fingerprint(sigalg_grease_hello())
    assert fp.ja4 == SIGALG_GREASE_JA4
    assert fp.ja4_r == SIGALG_GREASE_JA4_R
    assert fp.grease
    assert fp.grease_sigalg
    assert fp.alps_codepoint == 17613
    assert fp.trust_anchors == ("82df130201",)
    assert fp.key_shares == (0x1A1A, 4588, 29)
    assert fp.cert_compression == (2,)


def test_a_hello_split_over_several_records_parses_the_same() -> None:
    whole = sigalg_grease_hello()
    split = sigalg_grease_hello(record_size=100)
    assert len(split) > len(whole)
    assert hello_length(split + b"trailing") == len(split)
    assert fingerprint(split) == fingerprint(whole)


def test_the_ja4_readme_chrome_example() -> None:
    # FoxIO's README: Chrome's JA4 t13d1516h2_8daaf6152771_e5627efa2ab1, 16 extensions
    # (padding among them), ALPS on the old codepoint, no ECH.
    kinds = [0x0005, 0x000B, 0x0012, 0x0015, 0x0017, 0x001B, 0x0023, 0x002D, 0x4469, 0xFF01]
    extensions = [sni("example.com"), alpn(b"h2", b"http/1.1"), groups(29, 23, 24)]
    extensions += [sigalgs(*CHROME_SIGALGS), versions(0x0304, 0x0303), key_shares(29)]
    bodies = {
        0xFF01: b"\x00",
        0x000B: b"\x01\x00",
        0x002D: b"\x01\x01",
        0x001B: b"\x02\x00\x02",
        0x4469: b"\x00\x03\x02h2",
    }
    extensions += [extension(k, bodies.get(k, b"")) for k in kinds]
    fp = fingerprint(client_hello(CHROME_CIPHERS, extensions))
    assert fp.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"h3", "h3"),
        (b"", "00"),
        (b"\xab\x01\xcd", "ad"),  # not alphanumeric: first and last hex characters
        (b"a\x99", "69"),
    ],
)
def test_ja4_alpn_characters(value: bytes, expected: str) -> None:
    assert ja4_alpn(value) == expected


def test_ja4_without_sni_alpn_or_supported_versions() -> None:
    hello = client_hello([0x002F, 0x0035], [groups(23)], legacy_version=0x0303)
    fp = fingerprint(hello)
    a, ciphers, rest = fp.ja4.split("_")
    assert a == "t12i0201" + "00"
    assert ciphers == hashlib.sha256(b"002f,0035").hexdigest()[:12]
    assert rest == hashlib.sha256(b"000a").hexdigest()[:12]  # no sigalgs: no underscore
    assert fingerprint(client_hello([0x002F], [])).ja4.endswith("_000000000000")


def test_ja3_and_sorted_ja3_drop_grease() -> None:
    fp = fingerprint(sigalg_grease_hello())
    assert fp.ja3.startswith("771,4865-4866-4867-49195-49199-")
    assert fp.ja3.split(",")[2].startswith("65037-16-23-51-17613-65281-10-13-35-43-11-51764")
    assert fp.ja3_sorted.split(",")[2] == (
        "0-5-10-11-13-16-18-23-27-35-43-45-51-17613-51764-65037-65281"
    )
    assert fp.ja3_sorted.endswith(",4588-29-23-24,0")
    assert fp.ja3_hash == hashlib.md5(fp.ja3.encode(), usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("value", [0x0A0A, 0x1A1A, 0xFAFA])
def test_grease_values(value: int) -> None:
    assert is_grease(value)


@pytest.mark.parametrize("value", [0x0A0B, 0x1A2A, 0x0017, 0xFE0D])
def test_not_grease_values(value: int) -> None:
    assert not is_grease(value)


# -- malformed and truncated hellos -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "plain HTTP"),
        (b"\x17\x03\x03\x00\x05hello", "content type 23"),
        (b"\x16\x09\x01\x00\x05hello", "record version"),
        (b"\x16\x03\x01\x00\x00", "0 bytes"),
        (b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", "handshake type 2"),
    ],
)
def test_bytes_that_are_not_a_hello_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(HelloError, match=message):
        parse_client_hello(data)


def test_every_truncation_of_a_hello_asks_for_more() -> None:
    data = sigalg_grease_hello(record_size=300)
    for end in range(len(data)):
        with pytest.raises(HelloIncomplete):
            hello_length(data[:end])


def test_inner_lengths_that_overrun_are_errors_not_crashes() -> None:
    good = client_hello([0x1301], [groups(29)])
    # The groups vector claims 200 bytes inside a 4-byte extension.
    bad = good.replace(b"\x00\x0a\x00\x04\x00\x02\x00\x1d", b"\x00\x0a\x00\x04\x00\xc8\x00\x1d")
    with pytest.raises(HelloError, match="extension 10"):
        parse_client_hello(bad)
    repeated = client_hello([0x1301], [groups(29), groups(23)])
    with pytest.raises(HelloError, match="repeats extension 10"):
        parse_client_hello(repeated)
    with pytest.raises(HelloError, match="no cipher"):
        parse_client_hello(client_hello([], []))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_parse_or_raise_hello_error(data: bytes) -> None:
    with contextlib.suppress(HelloError):
        parse_client_hello(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_mutated_real_hello_parses_or_raises_hello_error(data: st.DataObject) -> None:
    hello = bytearray(sigalg_grease_hello())
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(hello) - 1))
        hello[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(hello)))
    try:
        fp = Fingerprint.from_wire(parse_client_hello(bytes(hello[:cut])))
    except HelloError:
        return
    assert fp.ja4.startswith("t")


# -- HTTP/2 opening and Akamai ------------------------------------------------------------


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3) + bytes([kind, flags]) + stream.to_bytes(4) + payload


def chrome_opening() -> bytes:
    settings_payload = b"".join(
        k.to_bytes(2) + v.to_bytes(4) for k, v in [(1, 65536), (2, 0), (4, 6291456), (6, 262144)]
    )
    block = encode_headers(
        [
            (":method", "GET"),
            (":authority", "a.test"),
            (":scheme", "https"),
            (":path", "/x"),
            ("user-agent", "UA"),
            ("accept", "*/*"),
        ]
    )
    priority = (1 << 31).to_bytes(4) + bytes([255])
    return (
        PREFACE
        + _frame(4, 0, 0, settings_payload)
        + _frame(8, 0, 0, (15663105).to_bytes(4))
        + _frame(1, 0x4 | 0x20 | 0x1, 1, priority + block)
    )


def test_chromes_http2_opening_gives_its_akamai_string() -> None:
    opening = parse_h2_opening(chrome_opening())
    assert opening.headers_priority == (1, 0, 256)
    assert opening.stream == 1
    fp = Fingerprint.from_wire(parse_client_hello(sigalg_grease_hello()), opening=opening)
    assert fp.akamai == "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
    assert fp.header_order == ("user-agent", "accept")
    assert fp.header("user-agent") == "UA"


def test_priority_frames_and_continuations_are_read() -> None:
    block = encode_headers([(":method", "GET"), (":path", "/"), ("x-a", "1")])
    data = (
        PREFACE
        + _frame(4, 0, 0, (1).to_bytes(2) + (65536).to_bytes(4))
        + _frame(2, 0, 3, (0).to_bytes(4) + bytes([200]))
        + _frame(1, 0, 1, block[:5])
        + _frame(9, 0x4, 1, block[5:])
    )
    opening = parse_h2_opening(data)
    assert opening.priority_frames == ((3, 0, 0, 201),)
    assert [k for k, _ in opening.headers] == [":method", ":path", "x-a"]


def test_http2_openings_that_are_incomplete_or_wrong() -> None:
    data = chrome_opening()
    for end in (0, 10, len(PREFACE) + 5, len(data) - 1):
        with pytest.raises(H2Incomplete):
            parse_h2_opening(data[:end])
    with pytest.raises(H2Error, match="preface"):
        parse_h2_opening(b"GET / HTTP/1.1\r\n\r\n" + bytes(40))
    with pytest.raises(H2Error, match="multiple of 6"):
        parse_h2_opening(PREFACE + _frame(4, 0, 0, b"\x00" * 5))
    with pytest.raises(H2Error, match="HPACK"):
        parse_h2_opening(PREFACE + _frame(1, 0x4, 1, b"\xff\xff\xff\xff\xff"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_http2_bytes_parse_or_raise_h2_error(data: bytes) -> None:
    with contextlib.suppress(H2Error):
        parse_h2_opening(PREFACE + data)


# -- the stored form -------------------------------------------------------------


def test_a_fingerprint_survives_its_dict_form_and_says_its_names() -> None:
    opening = parse_h2_opening(chrome_opening())
    fp = Fingerprint.from_wire(
        parse_client_hello(sigalg_grease_hello()), opening=opening, permuted=True
    )
    data = fp.to_dict()
    assert data["derived"]["ja4"] == SIGALG_GREASE_JA4
    back = Fingerprint.from_dict(data)
    assert back == fp
    assert back.headers == fp.headers
    assert back.akamai == fp.akamai
    with pytest.raises(UnreadableFingerprint):
        Fingerprint.from_dict({"ja4": "t13d1517h2_8daaf6152771_cb7bf5808d99"})
    assert Fingerprint.from_stored({"ja4": "t13d1517h2_8daaf6152771_cb7bf5808d99"}) is None
    assert Fingerprint.from_stored(None) is None
    assert Fingerprint.from_stored(data) == fp


def test_every_parse_error_is_a_fingerprint_error() -> None:
    for error in (HelloError, HelloIncomplete, H2Error, H2Incomplete, UnreadableFingerprint):
        assert issubclass(error, FingerprintError)
    assert issubclass(FingerprintError, ValueError)
