"""The ``harvest`` command line (also ``python -m harvester``): a thin shell that parses
arguments and prints, over the application layer (``_app.App``)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import sys
from collections.abc import Mapping, Sequence

import anyio

from client import (
    ClientError,
    ConfigError,
    FinishReason,
    HarvestRecipe,
    ImageResponse,
    Reasoning,
    StreamBroken,
    UnknownModel,
    UnknownProvider,
    Usage,
    is_profile_name,
    load_config,
)
from client.providers import provider_class, provider_names
from storage import CredentialStore, StorageError, copy_store, describe_database

from ._app import App
from ._doctor import run_doctor
from ._errors import HarvestError
from ._harvester import Harvester, expiry_text
from ._serve import serve
from ._status import status_json, status_table

__all__ = ["main"]

_OWN_LOGGERS = ("client", "harvester", "storage", "fingerprint")


def main(
    argv: Sequence[str] | None = None, *, recipes: Mapping[str, HarvestRecipe] | None = None
) -> int:
    """Run the command line; returns the exit code. ``recipes`` replaces the built-in
    providers' harvest recipes (for harvest-only sites, such as the tests' own)."""
    for stream in (sys.stdout, sys.stderr):
        # An answer in a script the terminal cannot show is shown escaped, not a crash.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = _parser()
    args = parser.parse_args(argv)
    # The daemon logs each harvest; other commands print their own progress lines
    # (chat and models also show warnings, such as a model list that could not be read).
    quiet = {
        _daemon: logging.INFO,
        _serve: logging.INFO,
        _chat: logging.WARNING,
        _models: logging.WARNING,
        _migrate: logging.WARNING,
    }.get(args.command, logging.ERROR)
    logging.basicConfig(
        level=quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        if args.command in (_daemon, _serve) or args.verbose
        else "harvest: %(message)s",
        stream=sys.stderr,
    )
    if args.verbose:
        # Our own loggers only: a dependency's debug output (aiosqlite's statements and
        # their parameters, hpack's headers, CDP messages) carries cookies and tokens.
        for name in _OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        known = sorted(recipes) if recipes is not None else provider_names()
        config = load_config(args.config, known_providers=known)
        # The server runs on uvloop where it is installed: its event loop and socket
        # writes carry every answer's frames (measured: scripts/bench_server.py).
        options = {"use_uvloop": args.command is _serve and _has_uvloop()}
        code: int = anyio.run(
            args.command, App(config, known=recipes), args, backend_options=options
        )
    except (ClientError, StorageError, HarvestError) as exc:
        print(f"harvest: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError | UnknownProvider | UnknownModel) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`harvest chat ... | head -c1`): stop quietly, and keep
        # Python from failing again on flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell shows for a writer whose pipe closed
    return code


def _has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def _profile(value: str) -> str:
    if not is_profile_name(value) or not _is_utf8(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a profile name: printable, not empty, no space at either end"
        )
    return value


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535)")
    return int(value)


def _text(value: str) -> str:
    if not _is_utf8(value):
        raise argparse.ArgumentTypeError(
            "not valid UTF-8 (set a UTF-8 locale, or pass the text in UTF-8)"
        )
    return value


def _is_utf8(value: str) -> bool:
    # Python hands undecodable argument bytes over as lone surrogates.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harvest",
        description="Keep working browser sessions for web AI providers.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="TOML config file (default: $HARVEST_CONFIG)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    status = commands.add_parser(
        "status",
        help="show the stored credentials (never a secret)",
        description="One row per credential: provider, profile, status, harvested, "
        "expires, browser version, last error. Cookie values and tokens are never shown.",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(command=_status)

    refresh = commands.add_parser(
        "refresh",
        help="harvest now",
        description="Harvest the given providers (default: every enabled one) now, one "
        "line per credential as each finishes. Exit status: 0 if all succeeded, 1 if any "
        "failed, 2 for a usage or configuration error.",
    )
    refresh.add_argument("providers", nargs="*", metavar="PROVIDER")
    refresh.add_argument(
        "--profile",
        type=_profile,
        metavar="P",
        help="harvest only this profile (default: the configured ones)",
    )
    refresh.set_defaults(command=_refresh)

    daemon = commands.add_parser(
        "daemon",
        help="keep credentials fresh until SIGINT/SIGTERM",
        description="Refresh every enabled provider's profiles before they expire and "
        "serve clients' refresh requests, until SIGINT or SIGTERM. One daemon per database.",
    )
    daemon.set_defaults(command=_daemon)

    serve = commands.add_parser(
        "serve",
        help="serve the OpenAI-compatible HTTP API",
        description="Serve /v1/models, /v1/chat/completions and /v1/images/generations "
        "(model ids PROVIDER/MODEL), /healthz, /readyz and /metrics, and keep every enabled "
        "credential fresh as `harvest daemon` does (unless a daemon already runs), until "
        "SIGINT or SIGTERM. A host other than loopback needs an API key ([server] api_keys "
        "or HARVEST_API_KEY).",
    )
    serve.add_argument("--host", type=_text, help="address to listen on ([server] host)")
    serve.add_argument("--port", type=_port, help="port to listen on, 0 for any ([server] port)")
    serve.set_defaults(command=_serve)

    chat = commands.add_parser(
        "chat",
        help="stream an answer to stdout",
        description="Send PROMPT to a provider and print the answer as it arrives; status "
        "lines and usage go to stderr, image results print their URLs. A missing or "
        "rejected credential is harvested here (one browser run, then one retry) unless "
        "--no-refresh is given or a running daemon serves the request.",
    )
    chat.add_argument("-p", "--provider", required=True, metavar="PROVIDER")
    chat.add_argument("-m", "--model", metavar="MODEL", help="a model id or alias")
    chat.add_argument("--system", type=_text, metavar="TEXT", help="a system message")
    chat.add_argument(
        "--profile",
        type=_profile,
        metavar="P",
        help="credential profile (default: the least loaded usable one of the configured profiles)",
    )
    chat.add_argument(
        "--no-refresh", action="store_true", help="never start a browser; fail instead"
    )
    chat.add_argument("prompt", type=_text, metavar="PROMPT")
    chat.set_defaults(command=_chat)

    models = commands.add_parser(
        "models",
        help="list a provider's models and aliases",
        description="The provider's models (its live list when it has one and a stored "
        "credential can read it, else the built-in list), each with its aliases.",
    )
    models.add_argument("provider", metavar="PROVIDER")
    models.add_argument(
        "--profile", default="default", type=_profile, metavar="P", help="credential profile"
    )
    models.set_defaults(command=_models)

    doctor = commands.add_parser(
        "doctor",
        help="check that the client looks like the browser",
        description="Start a local fingerprint endpoint, send it one request from the "
        "client built from PROVIDER's stored credential (or from a fresh Chromium capture "
        "when there is none) and compare it with the browser's: JA4, JA3 with sorted "
        "extensions, Akamai HTTP/2, header order, user agent and client hints. Exit "
        "status: 0 if every line matches, 1 if any differs.",
    )
    doctor.add_argument("provider", nargs="?", metavar="PROVIDER")
    doctor.add_argument(
        "--profile", default="default", type=_profile, metavar="P", help="credential profile"
    )
    doctor.set_defaults(command=_doctor)

    migrate = commands.add_parser(
        "migrate",
        help="copy every credential and its history into another store",
        description="Copy every credential and its harvest history from SOURCE to DEST "
        "(each a database file or a postgresql:// URL), e.g. from SQLite to PostgreSQL "
        "and back. Idempotent: a credential DEST has as new or newer is kept, an attempt "
        "it has is not copied again. Keys of sealed stores come from the environment, "
        "never the command line: HARVEST_SOURCE_KEY and HARVEST_DEST_KEY (each defaults "
        "to HARVEST_STORE_KEY, or [storage] key).",
    )
    migrate.add_argument("source", metavar="SOURCE")
    migrate.add_argument("destination", metavar="DEST")
    migrate.set_defaults(command=_migrate)
    return parser


async def _migrate(app: App, args: argparse.Namespace) -> int:
    default = app.config.storage.key
    source_key = os.environ.get("HARVEST_SOURCE_KEY") or default
    dest_key = os.environ.get("HARVEST_DEST_KEY") or default
    if not await CredentialStore.exists(args.source):
        print(f"harvest: no store at {describe_database(args.source)}", file=sys.stderr)
        return 1
    async with (
        CredentialStore.open(args.source, key=source_key) as source,
        CredentialStore.open(args.destination, key=dest_key) as destination,
    ):
        copied = await copy_store(source, destination, lambda line: print(line, flush=True))
    print(
        f"{copied.credentials} credential(s) copied, {copied.kept} kept, "
        f"{copied.attempts} attempt(s) copied into {destination.where}"
    )
    return 0


async def _doctor(app: App, args: argparse.Namespace) -> int:
    return await run_doctor(
        app.config, args.provider, args.profile, lambda line: print(line, flush=True)
    )


async def _status(app: App, args: argparse.Namespace) -> int:
    config = app.config
    if not await CredentialStore.exists(config.database):
        # Don't create an empty database just to say it is empty.
        if args.json:
            print("[]")
        else:
            print(
                f"no credentials yet in {describe_database(config.database)}; "
                "run `harvest refresh` to make some"
            )
        return 0
    async with app:
        credentials = await app.store.list()
        cooldowns = await app.store.cooldowns()
    proxy_for = app.config.proxy_for
    print(
        status_json(credentials, proxy_for=proxy_for, cooldowns=cooldowns)
        if args.json
        else status_table(credentials, proxy_for=proxy_for, cooldowns=cooldowns)
    )
    return 0


async def _refresh(app: App, args: argparse.Namespace) -> int:
    config = app.config
    names = args.providers or app.enabled_providers()
    for name in names:
        app.recipe(name)  # UnknownProvider lists the valid names, before anything opens
    jobs = [
        (name, profile)
        for name in names
        for profile in ([args.profile] if args.profile else config.provider(name).profiles)
    ]
    if not jobs:
        print("harvest: no enabled providers to refresh", file=sys.stderr)
        return 2
    failed = 0

    async def one(harvester: Harvester, provider: str, profile: str) -> None:
        nonlocal failed
        started = anyio.current_time()
        name = f"{provider}/{profile}"
        try:
            credential = await harvester.refresh(provider, profile)
        except HarvestError as exc:
            failed += 1
            outcome, detail = "failed", str(exc)
        else:
            outcome, detail = "ok", expiry_text(credential.expires_at, harvester.now())
        took = anyio.current_time() - started
        print(f"{outcome:<7} {name:<24} {took:6.1f}s  {detail}", flush=True)

    async with app, app.harvester as harvester, anyio.create_task_group() as group:
        for provider, profile in jobs:
            group.start_soon(one, harvester, provider, profile)
    return 1 if failed else 0


async def _daemon(app: App, args: argparse.Namespace) -> int:
    async with app:
        await app.run_daemon()
    return 0


async def _serve(app: App, args: argparse.Namespace) -> int:
    settings = app.config.server
    host = args.host if args.host is not None else settings.host
    return await serve(app, host, args.port if args.port is not None else settings.port)


def _say(line: str) -> None:
    print(f"harvest: {line}", file=sys.stderr, flush=True)


async def _chat(app: App, args: argparse.Namespace) -> int:
    provider_class(args.provider)  # UnknownProvider before anything starts
    async with app:
        return await _chat_in(app, args)


async def _chat_in(app: App, args: argparse.Namespace) -> int:
    # With --no-refresh nothing is harvested here: a running daemon may still serve it.
    refresher = None if args.no_refresh else await app.refresher(_say)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": args.prompt})
    usage: Usage | None = None
    finish: FinishReason | None = None
    at_line_start = True
    out = sys.stdout
    try:
        async with app.client(refresher) as client:
            events = client.stream(args.provider, messages, model=args.model, profile=args.profile)
            # Closed here, whatever stops the loop (a reader that went away): a stream
            # left to the interpreter's shutdown would be torn down with a traceback.
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, str):
                        out.write(event)
                        out.flush()
                        at_line_start = event.endswith("\n")
                    elif isinstance(event, Reasoning):
                        print(event.status, file=sys.stderr, flush=True)
                    elif isinstance(event, ImageResponse):
                        for url in event.urls:
                            print(url, file=out, flush=True)
                    elif isinstance(event, Usage):
                        usage = event
                    elif isinstance(event, FinishReason):
                        finish = event
    except StreamBroken:
        if not at_line_start:
            print(file=out, flush=True)
        raise
    if not at_line_start:
        print(file=out, flush=True)
    summary = []
    if usage is not None:
        summary.append(
            f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
        )
    if finish is not None:
        summary.append(f"finish: {finish.reason}")
    if summary:
        print("usage: " + "; ".join(summary), file=sys.stderr)
    return 0


async def _models(app: App, args: argparse.Namespace) -> int:
    adapter = provider_class(args.provider)
    async with app, app.client() as client:
        models = await client.models(args.provider, profile=args.profile)
    aliases: dict[str, list[str]] = {}
    for alias, target in adapter.aliases.items():
        aliases.setdefault(target, []).append(alias)
    for model in dict.fromkeys([*models, *aliases]):
        notes = ["default"] if model == adapter.default_model else []
        if model in aliases:
            notes.append("aliases: " + ", ".join(sorted(aliases[model])))
        print(f"{model}  ({'; '.join(notes)})" if notes else model)
    return 0
