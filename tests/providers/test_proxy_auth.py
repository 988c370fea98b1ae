"""Harvest and chat through a proxy that wants a user name and password, as residential
and datacenter proxies do: real Chromium goes through the harvester's loopback
forwarder, the client hands the same upstream to curl. The password is on no command
line, in no log, error or stored credential."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from client import Config
from harvester import Harvester, ProxyFailed
from storage import CredentialStore

from .._chat import chat_text
from ..emulators.freenetfly import HOST
from ..emulators.proxy import ConnectProxy, SocksProxy
from ..emulators.rig import Rig
from ..harvester._procs import chromium_processes

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

USER, PASSWORD = "rig-user", "pw-SECRET-31"


@pytest.fixture
def authed(rig: Rig) -> Iterator[ConnectProxy]:
    """A second way to the emulators, requiring credentials (407 otherwise)."""
    proxy = ConnectProxy(routes=dict(rig.proxy.routes), credentials=(USER, PASSWORD)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def socks(rig: Rig) -> Iterator[SocksProxy]:
    """A SOCKS5 way to the emulators, with RFC 1929's user name and password."""
    proxy = SocksProxy(routes=dict(rig.proxy.routes), credentials=(USER, PASSWORD)).start()
    yield proxy
    proxy.stop()


def through(rig: Rig, tmp_path: Path, chromium: str, proxy: str) -> Config:
    base = rig.config(tmp_path / "credentials.db", chromium)
    return dataclasses.replace(base, network=dataclasses.replace(base.network, proxy=proxy))


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def test_harvest_and_chat_through_a_proxy_with_a_password(
    rig: Rig,
    chromium: str,
    tmp_path: Path,
    authed: ConnectProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{authed.port}"
    config = through(rig, tmp_path, chromium, url)
    async with Harvester(config) as harvester:
        credential = await harvester.refresh("freenetfly")
        # While the browser runs: no password on any Chromium's command line.
        pids = list(chromium_processes())
        assert pids
        assert not [pid for pid in pids if PASSWORD.encode() in cmdline(pid)]
    assert authed.authorized >= 1  # the browser's tunnels carried the credentials
    # The exit is recorded, its password is not.
    assert credential.proxy == f"http://{USER}:[secure]@127.0.0.1:{authed.port}"
    harvested_through = authed.authorized
    text = await chat_text(config, "freenetfly")
    assert text
    assert authed.authorized > harvested_through  # the client went the same way
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("credentials.db*"))
    assert PASSWORD.encode() not in stored
    assert PASSWORD not in caplog.text


async def test_a_wrong_password_is_a_typed_error_and_keeps_the_last_credential(
    rig: Rig,
    chromium: str,
    tmp_path: Path,
    authed: ConnectProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = through(rig, tmp_path, chromium, f"http://{USER}:{PASSWORD}@127.0.0.1:{authed.port}")
    async with Harvester(good) as harvester:
        first = await harvester.refresh("freenetfly")
    wrong = through(rig, tmp_path, chromium, f"http://{USER}:nope-SECRET-9@127.0.0.1:{authed.port}")
    with anyio.fail_after(90):
        async with Harvester(wrong) as harvester:
            with pytest.raises(ProxyFailed) as failed:
                await harvester.refresh("freenetfly")
    assert failed.value.kind == "auth"
    assert "freenetfly/default" in str(failed.value)
    assert "407" in str(failed.value)
    assert "SECRET" not in str(failed.value) + caplog.text
    async with CredentialStore.open(tmp_path / "credentials.db") as store:
        kept = await store.get("freenetfly", "default")
    assert kept is not None
    assert kept.harvested_at == first.harvested_at  # the failed harvest kept it


async def test_harvest_and_chat_through_a_socks5h_proxy_with_a_password(
    rig: Rig,
    chromium: str,
    tmp_path: Path,
    socks: SocksProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = through(rig, tmp_path, chromium, socks.url("socks5h"))
    async with Harvester(config) as harvester:
        credential = await harvester.refresh("freenetfly")
        pids = list(chromium_processes())
        assert not [pid for pid in pids if PASSWORD.encode() in cmdline(pid)]
    assert socks.authorized >= 1
    assert credential.proxy == f"socks5h://{USER}:[secure]@127.0.0.1:{socks.port}"
    harvested_through = socks.authorized
    text = await chat_text(config, "freenetfly")
    assert text
    assert socks.authorized > harvested_through  # curl logged in to the same proxy
    # Both sides gave the proxy the name to resolve, never an address.
    assert set(socks.connects) == {f"{HOST}:443"}
    assert PASSWORD not in caplog.text
