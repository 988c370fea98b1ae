"""No secret (cookie value, token, header value, proxy password) in any repr or message."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from client import NetworkConfig, ProviderConfig
from storage import Attempt, Cookie, Credential, Lease, RefreshRequest, redact_url

from .conftest import full_credential

# Secrets marked so that they cannot occur in a repr by chance (a bare random word
# can: hypothesis once drew "NetworkConfi").
secrets = st.text(string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=40).map(
    lambda s: f"s3cr3t{s}"
)


def _reprs(*objects: object) -> str:
    return "\n".join(f"{obj!r}\n{obj!s}" for obj in objects)


@given(cookie_value=secrets, token=secrets, header=secrets, password=secrets)
def test_no_secret_in_model_reprs(
    cookie_value: str, token: str, header: str, password: str
) -> None:
    cookie = Cookie("cf_clearance", cookie_value, ".ai.cloudflare.com")
    cred = full_credential(
        cookies=(cookie,),
        tokens={"zerogpu": token},
        headers=(("authorization", f"Bearer {header}"),),
        proxy=f"http://user:{password}@proxy.example:8080",
    )
    text = _reprs(cookie, cred, NetworkConfig(proxy=cred.proxy), ProviderConfig(proxy=cred.proxy))
    for value in (cookie_value, token, header, password):
        assert value not in text
    # What is not secret stays readable.
    assert "cf_clearance" in text
    assert "'zerogpu': [secure]" in text
    assert "('authorization', [secure])" in text
    assert "http://user:[secure]@proxy.example:8080" in text


def test_full_credential_repr_hides_every_secret() -> None:
    cred = full_credential()
    text = _reprs(cred, *cred.cookies)
    assert "SECRET" not in text
    assert "chrome150" in text
    assert "156.0.8078.79" in text


def test_other_models_repr() -> None:
    text = _reprs(
        Lease("cloudflare", "default", "host:1:abc", 1.0),
        RefreshRequest(1, "cloudflare", "default", 1.0, "403"),
        Attempt("cloudflare", "default", 1.0, 2.0, False, "timeout"),
        Credential(provider="flowgpt"),
    )
    assert "host:1:abc" in text
    assert "timeout" in text


def test_redact_url() -> None:
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert redact_url("http://u:pw@h:1/x") == "http://u:[secure]@h:1/x"
    assert redact_url("socks5://token@h:1") == "socks5://[secure]@h:1"
    assert redact_url("http://u:p@ss@h:1") == "http://u:[secure]@h:1"
