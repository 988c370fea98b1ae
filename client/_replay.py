"""How the client reproduces a captured fingerprint with curl_cffi.

The plan is the nearest Chrome target (for everything a capture does not describe)
plus libcurl options that set every captured TLS and HTTP/2 parameter explicitly, so
the result follows the capture, not the target. curl_cffi applies its settings in the
order impersonate, ja3, extra_fp, akamai, curl_options (later wins): options alone are
enough and leave no half-applied JA3 behind.

Options are named by their ``CurlOpt`` member name; the transport resolves them (it is
curl_cffi's only importer). What curl_cffi cannot reproduce is named in ``differs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fingerprint import POST_JSON, Fingerprint, chromium_weight, is_grease, urgency_of
from fingerprint.extensions import (
    EXT_ALPS,
    EXT_COMPRESS_CERTIFICATE,
    EXT_DELEGATED_CREDENTIALS,
    EXT_ECH,
    EXT_PADDING,
    EXT_RECORD_SIZE_LIMIT,
    EXT_SCT,
    EXT_SESSION_TICKET,
    EXT_STATUS_REQUEST,
    EXT_TRUST_ANCHORS,
)
from storage import Credential

__all__ = ["Replay", "describe_fingerprint", "plan_replay", "replay_for"]

# IANA registry names as BoringSSL (curl-impersonate's TLS library) spells them.
CIPHERS = {
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}
GROUPS = {
    23: "P-256",
    24: "P-384",
    25: "P-521",
    29: "X25519",
    256: "ffdhe2048",
    257: "ffdhe3072",
    4588: "X25519MLKEM768",
    25497: "X25519Kyber768Draft00",
}
SIGNATURE_ALGORITHMS = {
    0x0201: "rsa_pkcs1_sha1",
    0x0203: "ecdsa_sha1",
    0x0401: "rsa_pkcs1_sha256",
    0x0403: "ecdsa_secp256r1_sha256",
    0x0501: "rsa_pkcs1_sha384",
    0x0503: "ecdsa_secp384r1_sha384",
    0x0601: "rsa_pkcs1_sha512",
    0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256",
    0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519",
    0x0904: "mldsa44",
    0x0905: "mldsa65",
    0x0906: "mldsa87",
}
CERT_COMPRESSION = {1: "zlib", 2: "brotli", 3: "zstd"}

# What no curl option reaches, measured against Chromium: a HEADERS frame's dependency on
# a stream still open (curl's refers to a handle, not settable per session); the PING
# Chromium sends when it reuses a connection idle for 10 s, curl's GOAWAY on close (none
# from Chromium), WINDOW_UPDATE sizes (Chromium: the bytes consumed; curl: 3 MiB steps)
# and which headers HPACK indexes (nghttp2 decides); a session's first request sends
# its cookies as one field (it has not seen the protocol yet); on HTTP/1.1 curl writes
# Connection last (Chromium: second).
H2_RESIDUE = (
    "h2 dependency on open streams",
    "h2 PING/GOAWAY/WINDOW_UPDATE/HPACK",
    "cookie fields of a session's first request",
)
HTTP1_RESIDUE = ("HTTP/1.1 Connection position",)


@dataclass(frozen=True)
class Replay:
    """A curl_cffi session's fingerprint settings: a target, then option overrides."""

    target: str
    options: tuple[tuple[str, int | str], ...]  # (CurlOpt member name, value), in order
    differs: tuple[str, ...]  # what the replay cannot match, for people

    @property
    def exact(self) -> bool:
        return not self.differs

    @property
    def residue(self) -> tuple[str, ...]:
        """The differences every replay has (no curl option reaches them)."""
        return tuple(d for d in self.differs if d in H2_RESIDUE or d in HTTP1_RESIDUE)

    def describe(self) -> str:
        """``exact`` or ``nearest chrome150, differs in grease sigalg, ... (+4 ...)``:
        this capture's differences by name, the ones every replay has counted."""
        if self.exact:
            return "exact"
        named = [d for d in self.differs if d not in self.residue]
        common = f"{len(self.residue)} curl limits" if self.residue else ""
        if not named:
            return f"nearest {self.target}, differs in {common}"
        text = f"nearest {self.target}, differs in {', '.join(named)}"
        return f"{text} (+{common})" if common else text


def plan_replay(
    fingerprint: Fingerprint, target: str, *, priority_header: str | None = None
) -> Replay:
    """The settings that make curl_cffi's ``target`` send ``fingerprint`` on API calls.

    ``priority_header`` is the ``priority`` the calls carry: without captured calls,
    the HEADERS weight Chromium gives that urgency goes with it.
    """
    options: list[tuple[str, int | str]] = []
    differs: list[str] = []
    extensions = set(fingerprint.extensions)

    def named(kind: str, table: dict[int, str], values: tuple[int, ...]) -> list[str]:
        names = []
        for value in values:
            if is_grease(value):
                continue
            if value in table:
                names.append(table[value])
            else:
                differs.append(f"{kind} 0x{value:04x}")
        return names

    ciphers = named("cipher", CIPHERS, fingerprint.ciphers)
    if ciphers:
        options.append(("SSL_CIPHER_LIST", ":".join(ciphers)))
    groups = named("group", GROUPS, fingerprint.groups)
    if groups:
        options.append(("SSL_EC_CURVES", ":".join(groups)))
    shares = [g for g in fingerprint.key_shares if not is_grease(g)]
    if shares:
        if shares != [g for g in fingerprint.groups if not is_grease(g)][: len(shares)]:
            differs.append("key share choice")
        options.append(("TLS_KEY_SHARES_LIMIT", len(shares)))
    sigalgs = named("signature algorithm", SIGNATURE_ALGORITHMS, fingerprint.signature_algorithms)
    if sigalgs:
        options.append(("SSL_SIG_HASH_ALGS", ",".join(sigalgs)))
    if fingerprint.grease_sigalg:
        differs.append("grease sigalg")
    options.append(("TLS_GREASE", int(fingerprint.grease)))
    alps = fingerprint.alps_codepoint
    options.append(("SSL_ENABLE_ALPS", int(alps is not None)))
    options.append(("TLS_USE_NEW_ALPS_CODEPOINT", int(alps == EXT_ALPS)))
    compression = named("certificate compression", CERT_COMPRESSION, fingerprint.cert_compression)
    if EXT_COMPRESS_CERTIFICATE in extensions:
        options.append(("SSL_CERT_COMPRESSION", ",".join(compression)))
    else:
        options.append(("SSL_CERT_COMPRESSION", ""))
    options.append(("TLS_STATUS_REQUEST", int(EXT_STATUS_REQUEST in extensions)))
    options.append(("TLS_SIGNED_CERT_TIMESTAMPS", int(EXT_SCT in extensions)))
    options.append(("SSL_ENABLE_TICKET", int(EXT_SESSION_TICKET in extensions)))
    options.append(("ECH", "grease" if EXT_ECH in extensions else "false"))
    if EXT_TRUST_ANCHORS in extensions:
        anchors = [_relative_oid(a) for a in fingerprint.trust_anchors]
        options.append(("TLS_TRUST_ANCHORS", ",".join(anchors)))
        if len(anchors) > 1:
            differs.append("trust-anchor order")
    if EXT_RECORD_SIZE_LIMIT in extensions and fingerprint.record_size_limit:
        options.append(("TLS_RECORD_SIZE_LIMIT", fingerprint.record_size_limit))
    if EXT_DELEGATED_CREDENTIALS in extensions:
        delegated = named(
            "delegated credential", SIGNATURE_ALGORITHMS, fingerprint.delegated_credentials
        )
        options.append(("TLS_DELEGATED_CREDENTIALS", ":".join(delegated)))
    if fingerprint.permuted:
        options.append(("SSL_PERMUTE_EXTENSIONS", 1))
    else:
        options.append(("SSL_PERMUTE_EXTENSIONS", 0))
        # BoringSSL adds padding itself when the hello needs it.
        order = [e for e in fingerprint.extensions if not is_grease(e) and e != EXT_PADDING]
        options.append(("TLS_EXTENSION_ORDER", "-".join(str(e) for e in order)))
    if fingerprint.http == "h2" and fingerprint.h2_settings:
        options += _h2_options(fingerprint, priority_header, differs)
        differs += H2_RESIDUE
    if fingerprint.h2_settings or fingerprint.calls:
        differs += HTTP1_RESIDUE
    if fingerprint.h2_settings and not fingerprint.calls:
        differs.append("API-call order (not captured)")
    return Replay(target=target, options=tuple(options), differs=tuple(dict.fromkeys(differs)))


def _h2_options(
    fingerprint: Fingerprint, priority_header: str | None, differs: list[str]
) -> list[tuple[str, int | str]]:
    options: list[tuple[str, int | str]] = []
    options.append(("HTTP2_SETTINGS", fingerprint.h2_settings_text))
    options.append(("HTTP2_WINDOW_UPDATE", fingerprint.h2_window_update))
    if fingerprint.h2_priority_frames:
        options.append(("HTTP2_STREAMS", fingerprint.h2_priority_text))
    options.append(("HTTP2_PSEUDO_HEADERS_ORDER", "".join(fingerprint.pseudo_order)))
    priority = _call_priority(fingerprint, priority_header, differs)
    if priority is None:
        options.append(("HTTP2_NO_PRIORITY", 1))
    else:
        exclusive, _dependency, weight = priority
        options.append(("HTTP2_NO_PRIORITY", 0))
        options.append(("STREAM_WEIGHT", weight))
        options.append(("STREAM_EXCLUSIVE", exclusive))
    return options


def _call_priority(
    fingerprint: Fingerprint, priority_header: str | None, differs: list[str]
) -> tuple[int, int, int] | None:
    """The HEADERS priority of an API call: what Chromium sent for its captured calls
    (fetches: weight 220), else the weight Chromium gives the calls' urgency, else the
    page load's. One per session: curl takes it per session, not per request."""
    captured = {c.call: c.priority for c in fingerprint.calls if c.http == "h2"}
    if captured:
        if len(set(captured.values())) > 1:
            differs.append("HEADERS priority per call")
        return captured.get(POST_JSON, next(iter(captured.values())))
    urgency = urgency_of(priority_header)
    if urgency is not None:
        return (1, 0, chromium_weight(urgency))
    return fingerprint.h2_headers_priority


def _relative_oid(hex_id: str) -> str:
    """A trust anchor id (a binary relative OID) in the dotted form curl takes."""
    parts: list[str] = []
    value = 0
    for byte in bytes.fromhex(hex_id):
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(str(value))
            value = 0
    return ".".join(parts)


def replay_for(credential: Credential) -> Replay | None:
    """The replay of ``credential``'s captured fingerprint; None when it has none.

    A fingerprint this version cannot read (an older format) counts as none: the
    session then uses the nearest target alone, and ``describe_fingerprint`` says so.
    """
    fingerprint = Fingerprint.from_stored(credential.fingerprint)
    if fingerprint is None:
        return None
    priority = next((v for k, v in credential.headers if k.lower() == "priority"), None)
    return plan_replay(fingerprint, credential.impersonate or "chrome", priority_header=priority)


def describe_fingerprint(credential: Credential) -> str:
    """One line for ``harvest status``: ``exact``, ``nearest chrome150, differs in ...``,
    or why there is no replay."""
    replay = replay_for(credential)
    if replay is not None:
        return replay.describe()
    target = credential.impersonate or "chrome"
    if credential.fingerprint:
        return f"unreadable capture, {target} alone"
    return f"not captured, {target} alone"
