"""``harvest serve``: the OpenAI-compatible API on uvicorn (its one importer), with the
daemon's keeping of credentials in the same process.

The server takes the store's daemon role when it is free: it keeps every enabled
credential fresh, serves other clients' refresh requests, and harvests in-process
(single flight) when a chat finds its credential missing or rejected. When another
daemon holds the role, the server leaves the keeping to it, asks it for refreshes,
and takes the role over if that daemon stops. SIGINT/SIGTERM stop accepting, give open
answers up to ``GRACE`` seconds to end, cancel the rest and close Chromium.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn

from client import AsyncClient, ConfigError

from ._app import App
from ._daemon import Daemon
from ._errors import HarvestError
from ._metrics import Metrics
from ._server import create_api
from ._service import Service

__all__ = ["GRACE", "serve"]

logger = logging.getLogger("harvester.serve")

GRACE = 10  # seconds open answers get to end after SIGINT/SIGTERM


async def serve(app: App, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM; 0 after a clean stop. ``ConfigError`` (exit 2) for a
    host others can reach with no API key: nothing listens then."""
    sock = await _listening_socket(app, host, port)
    try:
        metrics = Metrics(app.enabled_providers())
        app.on_attempt = metrics.heard
        async with app, app.harvester as harvester:
            keeping = await app.store.claim_daemon() is None
            try:
                # The client logs why it harvests, the harvester what it harvested.
                async with app.client(harvester if keeping else None) as client:
                    await _run(app, client, metrics, sock, keeping)
            finally:
                await app.store.release_daemon()
    finally:
        sock.close()
    logger.info("stopped")
    return 0


async def _run(
    app: App, client: AsyncClient, metrics: Metrics, sock: socket.socket, keeping: bool
) -> None:
    service = Service(app, client, metrics)
    api = create_api(service, api_keys=app.config.server.api_keys)
    config = uvicorn.Config(
        api,
        lifespan="off",
        log_config=None,  # our logging, as the rest of the command's
        access_log=False,  # each answer logs one line of its own
        timeout_graceful_shutdown=GRACE,
        ws="none",
    )
    server = _Server(config)
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, server)
        group.start_soon(_announce, server, sock, app)
        daemon = Daemon(app.harvester, app.config)
        if keeping:
            group.start_soon(daemon.keep)
        else:
            group.start_soon(_take_over_when_free, app, client, daemon, group)
        await server.serve(sockets=[sock])
        group.cancel_scope.cancel()


class _Server(uvicorn.Server):
    """uvicorn's server with the signals left to us: its own handlers re-raise the
    signal after shutdown, which would end the process with that signal, not 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_on_signal(server: uvicorn.Server) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            name = signal.Signals(received).name
            if server.should_exit:
                logger.info("%s again: cancelling the open answers now", name)
                server.force_exit = True
                return
            logger.info("stopping (%s): open answers get %.0fs to end", name, GRACE)
            server.should_exit = True


async def _announce(server: uvicorn.Server, sock: socket.socket, app: App) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn has a flag, not an event
        await anyio.sleep(0.05)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    keys = len(app.config.server.api_keys)
    guard = f"{keys} API key{'s' if keys != 1 else ''}" if keys else "no API key (loopback only)"
    logger.info("serving the OpenAI API on http://%s:%d/v1 (%s)", shown, port, guard)


async def _take_over_when_free(
    app: App, client: AsyncClient, daemon: Daemon, group: anyio.abc.TaskGroup
) -> None:
    pid = await app.store.running_daemon()
    logger.info(
        "another harvest daemon (pid %s) keeps this store's credentials; "
        "this server asks it for refreshes",
        pid if pid is not None and pid > 0 else "unknown",
    )
    while True:
        # As often as a daemon looks for refresh requests: a claim attempt is one flock.
        await anyio.sleep(app.config.harvester.poll_interval)
        if await app.store.claim_daemon() is None:
            logger.info("the other daemon has stopped: this server keeps the credentials now")
            client.refresher = app.harvester
            group.start_soon(daemon.keep)
            return


async def _listening_socket(app: App, host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, after refusing a host others can reach when no
    API key is set."""
    try:
        found = await anyio.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise HarvestError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    if not app.config.server.api_keys and not all(_is_loopback(info[4][0]) for info in found):
        raise ConfigError(
            f"refusing to serve on {host} with no API key: anyone who reaches it could use "
            'your credentials. Set one with [server] api_keys = ["..."] in the config or '
            "the HARVEST_API_KEY environment variable, or serve on 127.0.0.1",
            path=str(app.config.source) if app.config.source else None,
        )
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise HarvestError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another with --port or [server] port"
        ) from None
    return sock


def _is_loopback(address: Any) -> bool:
    try:
        return ipaddress.ip_address(str(address).split("%")[0]).is_loopback
    except ValueError:
        return False
