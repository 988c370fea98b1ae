"""``harvest serve`` as a process: who may reach it, how it stops, how it shares the
store with a daemon, and what it does when a credential is refused or the store breaks.
Each test has a server of its own."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

from ..emulators.rig import Rig
from ..providers._cli import cli_env, run_cli
from ._server import LISTENING, ServerProcess, sse_data
from .conftest import FAST
from .test_api import _metrics, _sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_SOLVE = "/cdn-cgi/challenge-platform/solve"


def only(*providers: str) -> dict[str, Any]:
    """Config tables that switch every other provider off (fewer harvests to wait for)."""
    others = {"cloudflare", "flowgpt", "freenetfly", "g4f_space"} - set(providers)
    return {f"providers.{name}": {"enabled": False} for name in others}


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Servers a test starts; killed (with their browsers) if the test did not stop them."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()


def _refused_soon(host: str, port: int, within: float = 5) -> bool:
    """Whether connecting is refused within ``within`` seconds (the listening socket
    is closed just after uvicorn logs that it is shutting down)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


def _start(
    servers: list[ServerProcess],
    env: dict[str, str],
    *args: str,
    command: tuple[str, ...] = ("serve", "--port", "0"),
    ready: re.Pattern[str] = LISTENING,
) -> ServerProcess:
    server = ServerProcess(env, *args, command=command)
    servers.append(server)
    return server.start(ready=ready)


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_a_reachable_host_without_a_key_is_refused(
    rig: Rig, chromium: str, tmp_path: Path, host: str
) -> None:
    env = cli_env(rig, tmp_path, chromium)
    code, out, err = await run_cli(["serve", "--host", host, "--port", "0"], env)
    assert code == 2, err
    assert "refusing to serve" in err
    assert "HARVEST_API_KEY" in err
    assert "api_keys" in err
    assert "serving" not in err
    assert not out
    assert not (tmp_path / "credentials.db").exists()  # nothing was opened either


def test_api_keys_guard_v1_and_metrics_only(
    rig: Rig, chromium: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    configured, from_env = "sk-configured-Zq81xL0", "sk-environment-Mv3nT7"
    env = cli_env(
        rig,
        tmp_path,
        chromium,
        client=FAST,
        server={"api_keys": [configured]},
        **only("freenetfly"),
    )
    env["HARVEST_API_KEY"] = from_env
    server = _start(servers, env, "--host", "0.0.0.0")
    assert "serving the OpenAI API on http://0.0.0.0:" in server.output
    assert "2 API keys" in server.output
    server.wait_fresh(["freenetfly"])
    for key in (configured, from_env):
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
        answer = sdk.chat.completions.create(
            model="freenetfly/gpt-4", messages=[{"role": "user", "content": "count to 2"}]
        )
        assert answer.choices[0].message.content == " 1 2"
    wrong = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.code == "invalid_api_key"
    for path in ("/v1/models", "/metrics"):
        status, headers, body = server.request("GET", path)
        assert status == 401, path
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
        assert headers["content-type"] == "application/json"
    status, _, metrics = server.request(
        "GET", "/metrics", headers={"authorization": f"Bearer {from_env}"}
    )
    assert status == 200
    assert configured.encode() not in metrics
    assert from_env.encode() not in metrics
    for path in ("/healthz", "/readyz"):
        assert server.request("GET", path)[0] == 200
    assert server.stop() == 0
    assert configured not in server.output
    assert from_env not in server.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_an_open_stream_end_then_exits_0(
    private_rig: Rig, chromium: str, tmp_path: Path, servers: list[ServerProcess], sig: int
) -> None:
    site = private_rig.freenetfly
    site.state.split, site.state.chunk_delay = False, 0.1  # about 3 s for 30 records
    env = cli_env(private_rig, tmp_path, chromium, client=FAST, **only("freenetfly"))
    server = _start(servers, env)
    server.wait_fresh(["freenetfly"])
    assert server.chromium()  # its daemon role harvested with a browser
    body = {
        "model": "freenetfly/gpt-4",
        "stream": True,
        "messages": [{"role": "user", "content": "count to 30"}],
    }
    connection, response = server.stream(body)
    first = response.readline()
    assert b'"role": "assistant"' in first
    server.process.send_signal(sig)  # type: ignore[union-attr]
    server.wait_for(f"stopping \\({signal.Signals(sig).name}\\)")
    server.wait_for("Shutting down")  # uvicorn closes its listening socket next
    try:
        host, port = re.findall(r"//([^:/]+):(\d+)", server.url)[0]
        assert _refused_soon(host, int(port)), "new connections are still accepted"
        rest = first + response.read()
    finally:
        connection.close()
    frames = list(sse_data(rest))
    assert frames[-1] == "[DONE]"
    text = "".join(
        json.loads(f)["choices"][0]["delta"].get("content", "")
        for f in frames[:-1]
        if json.loads(f)["choices"]
    )
    assert text == "".join(f" {n}" for n in range(1, 31))
    assert server.stop(within=30) == 0, server.output
    assert not server.chromium()
    assert site.state.abandoned == 0


def test_sigterm_cancels_a_stream_that_outlasts_the_grace(
    private_rig: Rig, chromium: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    site = private_rig.freenetfly
    site.state.split, site.state.chunk_delay = False, 0.1  # 30 s for 300 records
    env = cli_env(private_rig, tmp_path, chromium, client=FAST, **only("freenetfly"))
    server = _start(servers, env)
    server.wait_fresh(["freenetfly"])
    body = {
        "model": "freenetfly/gpt-4",
        "stream": True,
        "messages": [{"role": "user", "content": "count to 300"}],
    }
    connection, response = server.stream(body)
    assert b'"role": "assistant"' in response.readline()
    signalled = time.monotonic()
    assert server.stop(within=30) == 0, server.output
    took = time.monotonic() - signalled
    with pytest.raises(Exception):  # noqa: B017, PT011 - cut mid-body: IncompleteRead or reset
        response.read()
    connection.close()
    assert took < 25, took  # the grace (10 s) bounds it, not the answer's 30 s
    assert "Cancel 1 running task" in server.output or "cancel" in server.output.lower()
    assert not server.chromium()
    deadline = time.monotonic() + 10
    while site.state.abandoned < 1:  # the upstream request was cancelled with it
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.anyio
async def test_ten_streams_on_a_refused_credential_cause_one_harvest(
    private_rig: Rig, chromium: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    env = cli_env(private_rig, tmp_path, chromium, client=FAST, **only("cloudflare"))
    server = _start(servers, env)
    server.wait_fresh(["cloudflare"])
    site = private_rig.cloudflare
    solves = len(site.requests_to(_SOLVE))
    assert (
        _sample(_metrics(server), "harvest_harvests_total", provider="cloudflare", result="ok") == 1
    )
    site.invalidate()  # every clearance revoked: the next call meets the interstitial
    sdk = openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120
    )
    texts: dict[int, str] = {}

    async def one(n: int) -> None:
        stream = await sdk.chat.completions.create(
            model="cloudflare/llama-3.3-70b",
            messages=[{"role": "user", "content": f"count to {n}"}],
            stream=True,
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        texts[n] = "".join(parts)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for n in range(1, 11):
                group.start_soon(one, n)
    await sdk.close()
    assert texts == {n: "".join(f" {k}" for k in range(1, n + 1)) for n in range(1, 11)}
    assert len(site.requests_to(_SOLVE)) == solves + 1
    metrics = _metrics(server)
    assert _sample(metrics, "harvest_harvests_total", provider="cloudflare", result="ok") == 2
    assert server.output.count("harvested cloudflare/default") == 2
    assert server.stop() == 0


def test_a_running_daemon_keeps_the_store_and_the_server_takes_over_after_it(
    rig: Rig, chromium: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    env = cli_env(
        rig,
        tmp_path,
        chromium,
        client=FAST,
        harvester={"poll_interval": "200ms"},
        **only("freenetfly"),
    )
    daemon = _start(servers, env, command=("daemon",), ready=re.compile("harvested freenetfly"))
    server = _start(servers, env)
    server.wait_for("another harvest daemon \\(pid \\d+\\) keeps")
    assert "daemon started" not in server.output
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    answer = sdk.chat.completions.create(
        model="freenetfly/gpt-4", messages=[{"role": "user", "content": "count to 3"}]
    )
    assert answer.choices[0].message.content == " 1 2 3"
    assert not server.chromium()  # the daemon's credential served it: no browser here
    assert daemon.stop() == 0
    server.wait_for("this server keeps the credentials now", within=30)
    server.wait_for("daemon started", within=30)
    assert server.stop() == 0


def test_readyz_is_503_while_the_store_is_broken(
    rig: Rig, chromium: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    env = cli_env(rig, tmp_path, chromium, client=FAST, **only("freenetfly"))
    server = _start(servers, env)
    server.wait_fresh(["freenetfly"])
    # Deleted under the running server (a cleanup, a reset volume): it would go on
    # writing into a file no one can open again, so it is not ready.
    for name in ("credentials.db", "credentials.db-wal", "credentials.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    status, _, body = server.request("GET", "/readyz")
    assert status == 503, body
    answer = json.loads(body)
    assert answer["status"] == "unavailable"
    assert "removed or replaced while in use" in answer["error"]
    assert server.request("GET", "/healthz")[0] == 200
    assert server.stop() == 0, server.output
