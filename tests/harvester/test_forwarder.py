"""The loopback forwarder a browser goes through to reach a proxy that wants a user name
and password, or speaks SOCKS5: tunnels only, credentials added upstream, every failure
typed and named without the password. The upstreams are the rig's CONNECT and SOCKS5
proxies requiring credentials."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from harvester import ProxyFailed
from harvester._forwarder import ProxyForwarder

from ..emulators.proxy import ConnectProxy, SocksProxy

pytestmark = pytest.mark.anyio

USER, PASSWORD = "rig-user", "pw-SECRET-7"
TARGET = "echo.test:443"
PAYLOAD = b"\x16\x03\x01 not read by anyone in between"


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A TCP server echoing what it gets: the far end of a tunnel."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
def upstream(echo: int) -> Iterator[ConnectProxy]:
    proxy = ConnectProxy(routes={"echo.test": echo}, credentials=(USER, PASSWORD)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def socks(echo: int) -> Iterator[SocksProxy]:
    proxy = SocksProxy(routes={"echo.test": echo}, credentials=(USER, PASSWORD)).start()
    yield proxy
    proxy.stop()


async def connect(forwarder: ProxyForwarder, target: str = TARGET) -> tuple[bytes, bytes]:
    """A browser's CONNECT through the forwarder: its answer, and what came back through
    the tunnel for a few bytes sent."""
    port = int(forwarder.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return head, b""
        writer.write(PAYLOAD)
        echoed = await reader.readexactly(len(PAYLOAD))
        return head, echoed
    finally:
        writer.close()


async def test_a_tunnel_goes_through_the_upstream_with_its_credentials(
    upstream: ConnectProxy,
) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{upstream.port}"
    async with ProxyForwarder(url) as forwarder:
        assert PASSWORD not in forwarder.url
        assert forwarder.url.startswith("http://127.0.0.1:")
        head, echoed = await connect(forwarder)
        again = await connect(forwarder)
    assert head.startswith(b"HTTP/1.1 200")
    assert echoed == PAYLOAD  # the bytes pass untouched
    assert again[1] == echoed
    assert upstream.authorized == 2
    assert forwarder.tunnels == 2
    assert forwarder.failure is None


async def test_wrong_credentials_are_a_typed_407_that_never_names_the_password(
    upstream: ConnectProxy, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://{USER}:wrong-SECRET-8@127.0.0.1:{upstream.port}"
    async with ProxyForwarder(url) as forwarder:
        head, _ = await connect(forwarder)
    assert head.startswith(b"HTTP/1.1 502")  # the browser's page fails; the harvest says why
    failure = forwarder.failure
    assert isinstance(failure, ProxyFailed)
    assert failure.kind == "auth"
    assert "407" in str(failure)
    assert f"127.0.0.1:{upstream.port}" in str(failure)
    assert "SECRET" not in str(failure) + caplog.text
    assert upstream.authorized == 0


@pytest.mark.parametrize(
    ("where", "kind", "said"),
    [
        pytest.param("closed", "unreachable", "cannot be reached", id="connection refused"),
        pytest.param("unresolvable", "dns", "does not resolve", id="dns"),
        pytest.param("refusing", "refused", "refused a tunnel to nowhere.test:443", id="tunnel"),
    ],
)
async def test_each_way_the_upstream_fails_is_named(
    upstream: ConnectProxy, where: str, kind: str, said: str
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    address = {
        "closed": f"127.0.0.1:{closed}",
        "unresolvable": "proxy.invalid:8080",
        "refusing": f"127.0.0.1:{upstream.port}",
    }[where]
    target = "nowhere.test:443" if where == "refusing" else TARGET
    async with ProxyForwarder(f"http://{USER}:{PASSWORD}@{address}") as forwarder:
        head, _ = await connect(forwarder, target)
    assert head.startswith(b"HTTP/1.1 502")
    assert forwarder.failure is not None
    assert forwarder.failure.kind == kind
    assert said in str(forwarder.failure)
    assert PASSWORD not in str(forwarder.failure)


async def test_only_proxies_it_speaks_are_forwarded_and_a_bad_url_never_echoes_a_password() -> None:
    with pytest.raises(ValueError, match="not a proxy URL") as caught:
        ProxyForwarder(f"ftp://{USER}:{PASSWORD}@127.0.0.1:21")
    assert PASSWORD not in str(caught.value)


async def test_a_socks5h_tunnel_logs_in_and_lets_the_proxy_resolve_the_name(
    socks: SocksProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with ProxyForwarder(socks.url("socks5h")) as forwarder:
        head, echoed = await connect(forwarder)
    assert head.startswith(b"HTTP/1.1 200")
    assert echoed == PAYLOAD
    assert socks.authorized == 1  # RFC 1929: the user name and password
    assert socks.connects == [TARGET]  # the name, for the proxy to resolve
    assert PASSWORD not in caplog.text


async def test_a_socks5_tunnel_resolves_the_name_here_as_curl_does(
    socks: SocksProxy, echo: int
) -> None:
    async with ProxyForwarder(socks.url("socks5")) as forwarder:
        head, echoed = await connect(forwarder, f"localhost:{echo}")
        unresolved, _ = await connect(forwarder, "echo.invalid:443")
    assert head.startswith(b"HTTP/1.1 200")
    assert echoed == PAYLOAD
    assert socks.connects == [f"127.0.0.1:{echo}"]  # an address, not the name
    assert unresolved.startswith(b"HTTP/1.1 502")
    assert forwarder.failure is not None
    assert forwarder.failure.kind == "dns"
    assert "socks5h://" in str(forwarder.failure)  # what to do about it


@pytest.mark.parametrize(
    ("login", "target", "kind", "said"),
    [
        pytest.param(
            f"{USER}:wrong-SECRET-8@", TARGET, "auth", "refused the credentials", id="password"
        ),
        pytest.param("", TARGET, "auth", "wants a user name and password", id="no login"),
        pytest.param(
            f"{USER}:{PASSWORD}@", "nowhere.test:443", "refused", "host unreachable", id="tunnel"
        ),
    ],
)
async def test_each_way_a_socks5_proxy_refuses_is_named(
    socks: SocksProxy, login: str, target: str, kind: str, said: str
) -> None:
    async with ProxyForwarder(f"socks5h://{login}127.0.0.1:{socks.port}") as forwarder:
        head, _ = await connect(forwarder, target)
    assert head.startswith(b"HTTP/1.1 502")
    assert forwarder.failure is not None
    assert forwarder.failure.kind == kind
    assert said in str(forwarder.failure)
    assert "SECRET" not in str(forwarder.failure)
    assert f"127.0.0.1:{socks.port}" in str(forwarder.failure)
