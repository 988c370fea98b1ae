"""A ``harvest serve`` on the shared rig for the module that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from client.providers import provider_names

from ..emulators.rig import Rig
from ..providers._cli import cli_env
from ._server import ServerProcess

# Short client timeouts and retry delays, as the other suites' ``fast`` config.
FAST = {
    "connect_timeout": "5s",
    "first_byte_timeout": "10s",
    "idle_timeout": "10s",
    "retries": 2,
    "retry_backoff": "10ms",
    "retry_backoff_max": "50ms",
}


@pytest.fixture(scope="module")
def served(
    rig: Rig, chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose own daemon role harvested every provider at its start; it must
    stop with 0 on SIGTERM and leave no Chromium behind."""
    env = cli_env(rig, tmp_path_factory.mktemp("serve"), chromium, client=FAST)
    server = ServerProcess(env)
    try:
        server.start()
        server.wait_fresh(provider_names())
        yield server
        assert server.stop() == 0, server.output
        assert not server.chromium()
    finally:
        server.close()


@pytest.fixture
def sdk(served: ServerProcess) -> openai.OpenAI:
    """The official SDK pointed at the server, its own retries off (a test counts)."""
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0, timeout=120)
