"""The configuration file: TOML, every key optional (DESIGN.md, "Public surface").

The file comes from ``--config PATH`` or ``HARVEST_CONFIG``; ``HARVEST_DB`` overrides the
database path. The schema below is the single list of valid keys: validation, the
"valid keys" in error messages and the defaults all come from it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import platformdirs

from storage import describe_database, is_database_url, redact_url

from ._errors import ConfigError
from ._retry import RetryPolicy

__all__ = [
    "BrowserConfig",
    "ClientConfig",
    "Config",
    "HarvesterConfig",
    "NetworkConfig",
    "ProviderConfig",
    "ServerConfig",
    "default_database",
    "is_profile_name",
    "load_config",
    "parse_duration",
]

_APP_NAME = "session-harvest"
_PROXY_SCHEMES = ("http", "https", "socks4", "socks5", "socks5h")


@dataclass(frozen=True)
class BrowserConfig:
    """``[browser]``: which Chromium to run and how."""

    executable: Path | None = None  # None: look on PATH
    headless: bool = True
    args: tuple[str, ...] = ()
    # A running Chromium to attach to instead of launching one ("http://host:port", its
    # /json/version, or a ws:// URL); it may carry a token, so no repr shows it.
    cdp: str | None = field(default=None, repr=False)
    # Where the fingerprint endpoint listens, and the name the browser reaches it by: a
    # remote browser needs an address of this machine it can reach.
    capture_bind: str = "127.0.0.1"
    capture_host: str = "localhost"


@dataclass(frozen=True)
class NetworkConfig:
    """``[network]``: the proxy and extra trusted CAs, for browser and client alike."""

    proxy: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None

    def __repr__(self) -> str:
        proxy = redact_url(self.proxy) if self.proxy else None
        return f"NetworkConfig(proxy={proxy!r}, ca_bundle={self.ca_bundle!r})"


@dataclass(frozen=True)
class HarvesterConfig:
    """``[harvester]``: how harvests run and how the daemon schedules them."""

    concurrency: int = 2  # harvests at once
    restart_after: int = 50  # harvests per browser before a fresh one (Chromium leaks)
    backoff: float = 30.0  # first delay after a failed harvest; doubles per failure
    backoff_max: float = 1800.0
    poll_interval: float = 1.0  # how often the daemon looks for refresh requests
    # A fleet's daemon keeps a (provider, profile) for this long unless it renews (every
    # third of it): how soon another takes over from one that died.
    keeper_ttl: float = 30.0


@dataclass(frozen=True)
class ClientConfig:
    """``[client]``: timeouts and retries of the client's requests."""

    connect_timeout: float = 10.0  # TCP + TLS (+ proxy CONNECT)
    first_byte_timeout: float = 60.0  # request sent -> response headers
    idle_timeout: float = 60.0  # longest silence between two chunks of a stream
    retries: int = 3  # extra attempts after a connection error or 5xx, before any event
    retry_backoff: float = 0.5  # first delay between attempts; doubles, with jitter
    retry_backoff_max: float = 8.0
    refresh_timeout: float = 120.0  # how long to wait for a daemon to serve a refresh
    # Rotated cookies reach the store at most this often per (provider, profile), and on
    # close (a crash loses at most this much of them); the process uses them at once.
    write_back_interval: float = 1.0

    @property
    def default_retry(self) -> RetryPolicy:
        """The retry rule of providers that document none of their own."""
        return RetryPolicy(self.retries, self.retry_backoff, self.retry_backoff_max)


@dataclass(frozen=True)
class ProviderConfig:
    """``[providers.NAME]``: per-provider switches and overrides."""

    enabled: bool = True
    proxy: str | None = field(default=None, repr=False)
    profiles: tuple[str, ...] = ("default",)
    refresh_before_expiry: float = 300.0  # seconds
    # Concurrent streams per profile (None: no cap); a call without a profile waits for
    # a slot on one.
    max_streams: int | None = None
    # How long a profile the site answered 429 rests when the answer says no Retry-After.
    cooldown: float = 60.0
    # Override the provider's retry rule (None: the provider's own, else [client]'s).
    retries: int | None = None
    retry_backoff: float | None = None
    retry_backoff_max: float | None = None

    def __repr__(self) -> str:
        proxy = redact_url(self.proxy) if self.proxy else None
        retry = {
            "retries": self.retries,
            "retry_backoff": self.retry_backoff,
            "retry_backoff_max": self.retry_backoff_max,
        }
        overrides = "".join(f", {k}={v!r}" for k, v in retry.items() if v is not None)
        return (
            f"ProviderConfig(enabled={self.enabled!r}, proxy={proxy!r}, "
            f"profiles={self.profiles!r}, refresh_before_expiry={self.refresh_before_expiry!r}, "
            f"max_streams={self.max_streams!r}, cooldown={self.cooldown!r}{overrides})"
        )

    def override_retry(self, default: RetryPolicy) -> RetryPolicy:
        """``default`` with this table's overrides applied."""
        return dataclasses.replace(
            default,
            retries=default.retries if self.retries is None else self.retries,
            backoff=default.backoff if self.retry_backoff is None else self.retry_backoff,
            backoff_max=default.backoff_max
            if self.retry_backoff_max is None
            else self.retry_backoff_max,
        )


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: where ``harvest serve`` listens and the API keys it accepts
    (``HARVEST_API_KEY`` adds one)."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        keys = len(self.api_keys)
        return f"ServerConfig(host={self.host!r}, port={self.port!r}, api_keys=<{keys} set>)"


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: the key that seals credentials at rest (``HARVEST_STORE_KEY`` wins);
    without one, the store holds them as plain JSON."""

    key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"StorageConfig(key={'<set>' if self.key else None})"


@dataclass(frozen=True)
class Config:
    """The whole configuration, with defaults filled in."""

    # An SQLite file, or a PostgreSQL URL (``postgresql://user:password@host/db``);
    # the repr shows it without a password.
    database: Path | str
    browser: BrowserConfig = BrowserConfig()
    network: NetworkConfig = NetworkConfig()
    harvester: HarvesterConfig = HarvesterConfig()
    client: ClientConfig = ClientConfig()
    server: ServerConfig = ServerConfig()
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    source: Path | None = None  # the file it was read from, if any
    storage: StorageConfig = StorageConfig()

    def provider(self, name: str) -> ProviderConfig:
        """The settings of provider ``name`` (defaults when it has no table)."""
        return self.providers.get(name, ProviderConfig())

    def proxy_for(self, name: str) -> str | None:
        """The proxy for provider ``name``: its own, else the global one."""
        return self.provider(name).proxy or self.network.proxy

    def __repr__(self) -> str:
        shown = [
            f"{f.name}={describe_database(self.database)!r}"
            if f.name == "database"
            else f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
        ]
        return f"Config({', '.join(shown)})"


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    known_providers: Collection[str] | None = None,
) -> Config:
    """Read and validate the configuration.

    ``path`` wins over ``HARVEST_CONFIG``; with neither, every key takes its default.
    ``known_providers``, when given, is the list ``[providers.NAME]`` must come from.
    Raises ``ConfigError`` naming the file, the key path and what was expected.
    """
    env = os.environ if environ is None else environ
    source = Path(path) if path is not None else None
    if source is None and env.get("HARVEST_CONFIG"):
        source = Path(env["HARVEST_CONFIG"])
    data: dict[str, Any] = {}
    text = ""
    if source is not None:
        source = source.expanduser()
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot read the config file: {reason}", path=str(source)) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _decode_error(exc, source) from exc
        except RecursionError:
            raise ConfigError(
                "not valid TOML here: arrays or tables nested too deeply", path=str(source)
            ) from None
    reader = _Reader(source, text, known_providers)
    config = reader.config(data)
    if database := env.get("HARVEST_DB"):
        try:
            where = _database(database)
        except _Invalid as exc:
            raise ConfigError(f"HARVEST_DB must be {exc}") from None
        config = dataclasses.replace(
            config, database=where if isinstance(where, str) else where.expanduser()
        )
    if store_key := env.get("HARVEST_STORE_KEY"):
        config = dataclasses.replace(config, storage=StorageConfig(key=store_key))
    if key := env.get("HARVEST_API_KEY", "").strip():
        server = config.server
        if key not in server.api_keys:
            server = dataclasses.replace(server, api_keys=(*server.api_keys, key))
        config = dataclasses.replace(config, server=server)
    return config


def default_database() -> Path:
    """The database path when neither the config nor ``HARVEST_DB`` sets one."""
    return Path(platformdirs.user_data_dir(_APP_NAME)) / "credentials.db"


def cache_dir() -> Path:
    """The directory for files made again whenever they are missing (the merged CA)."""
    return Path(platformdirs.user_cache_dir(_APP_NAME))


# The longest duration a setting may have: beyond it a value is surely a typo, and
# timers and curl's millisecond timeouts stay in range.
_LONGEST = 366 * 86400.0


def parse_duration(value: str | float) -> float:
    """Seconds in ``value``: a number of seconds, or text like ``"90s"``, ``"5m"``, ``"1h30m"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("a duration must be a finite number")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        if value > _LONGEST:
            raise ValueError("a duration of over a year is surely a mistake")
        return float(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return parse_duration(float(text))
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"not a duration: {value!r} (use e.g. '30s', '5m', '1h30m')")
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    return parse_duration(sum(float(n) * units[u] for n, u in parts))


def _decode_error(exc: tomllib.TOMLDecodeError, source: Path) -> ConfigError:
    # Python 3.11's TOMLDecodeError has no lineno attribute; the message ends with it.
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if match is None:
        return ConfigError(f"not valid TOML: {message}", path=str(source))
    reason = message[: match.start()].strip()
    return ConfigError(
        f"not valid TOML: {reason} (column {match.group(2)})",
        path=str(source),
        line=int(match.group(1)),
    )


# -- validation ----------------------------------------------------------------------

_Convert = Callable[[Any], Any]


class _Invalid(Exception):
    """A value of the wrong type or shape; the message says what was expected."""


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("a string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("a boolean (true or false)")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid("an integer of at least 1")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid("an integer of at least 0")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid("a list of strings")
    return tuple(value)


def is_profile_name(name: str) -> bool:
    """Whether ``name`` can name a profile: printable, not empty, no space at either
    end (it is shown in status lines and logs, and typed on command lines)."""
    return bool(name) and name.isprintable() and name == name.strip()


def _profiles(value: Any) -> tuple[str, ...]:
    profiles = _strings(value)
    if not profiles or not all(is_profile_name(p) for p in profiles):
        raise _Invalid("a non-empty list of profile names (printable, no space at either end)")
    return profiles


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid('a duration such as "5m" or a number of seconds')
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _Invalid(f'a duration such as "5m" or a number of seconds ({exc})') from None


def _interval(value: Any) -> float:
    """A duration that paces a loop or bounds a wait: zero would spin or never wait."""
    seconds = _duration(value)
    if seconds <= 0:
        raise _Invalid('a duration above zero, such as "500ms" or "5s"')
    return seconds


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _Invalid("a port number from 0 to 65535 (0: any free port)")
    return value


def _api_keys(value: Any) -> tuple[str, ...]:
    # Never echo a value: these are secrets.
    keys = _strings(value)
    if not all(key and key.isprintable() and key == key.strip() for key in keys):
        raise _Invalid("a list of API keys (printable, not empty, no space at either end)")
    return keys


def _url(value: Any, schemes: Collection[str]) -> SplitResult | None:
    """``value`` split if it is a URL of one of ``schemes`` with a printable host and a
    numeric port (if any), else ``None``. Callers never echo it: it may hold a secret."""
    try:
        parts = urlsplit(_string(value))
        host = parts.hostname or ""
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        return None
    printable = not any(c.isspace() or not c.isprintable() for c in host)
    return parts if parts.scheme in schemes and host and printable else None


def _proxy(value: Any) -> str:
    parts = _url(value, _PROXY_SCHEMES)
    if parts is None:
        raise _Invalid(
            f"a proxy URL like http://host:port (scheme one of {', '.join(_PROXY_SCHEMES)})"
        )
    if parts.scheme == "socks4" and (parts.username or parts.password):
        raise _Invalid("a proxy URL: socks4 carries no password, use socks5://user:pass@host:port")
    return str(value)


def _database(value: str) -> Path | str:
    """A PostgreSQL URL (checked, never echoed: it may hold a password), else a path."""
    if not is_database_url(value):
        return Path(value)
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number
        # No host: a socket directory through ?host= instead.
        ok = bool(parts.hostname) or "host=" in parts.query
    except ValueError:
        ok = False
    if not ok:
        raise _Invalid("a database path or a URL like postgresql://user:password@host:5432/db")
    return value


def _store_key(value: Any) -> str:
    # Never echo the value: it is the key to every credential.
    if not isinstance(value, str) or not value:
        raise _Invalid("a non-empty string (the key that seals the credentials)")
    return value


def _cdp_url(value: Any) -> str:
    if _url(value, ("http", "https", "ws", "wss")) is None:
        raise _Invalid(
            "a DevTools URL like http://host:9222 (or ws://host:9222/devtools/browser/ID)"
        )
    return str(value)


def _type_name(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


# The schema: every valid key and how its value is checked (``dict``: a sub-table).
_TOP_LEVEL: Mapping[str, _Convert | type] = {
    "database": lambda value: _database(_string(value)),
    "browser": dict,
    "network": dict,
    "harvester": dict,
    "client": dict,
    "server": dict,
    "storage": dict,
    "providers": dict,
}
_TABLES: Mapping[str, Mapping[str, _Convert | type]] = {
    "browser": {
        "executable": _string,
        "headless": _boolean,
        "args": _strings,
        "cdp": _cdp_url,
        "capture_bind": _string,
        "capture_host": _string,
    },
    "network": {"proxy": _proxy, "ca_bundle": _string},
    "harvester": {
        "concurrency": _positive_int,
        "restart_after": _positive_int,
        "backoff": _interval,
        "backoff_max": _interval,
        "poll_interval": _interval,
        "keeper_ttl": _interval,
    },
    "client": {
        "connect_timeout": _interval,
        "first_byte_timeout": _interval,
        "idle_timeout": _interval,
        "retries": _count,
        "retry_backoff": _interval,
        "retry_backoff_max": _interval,
        "refresh_timeout": _interval,
        "write_back_interval": _interval,
    },
    "server": {"host": _string, "port": _port, "api_keys": _api_keys},
    "storage": {"key": _store_key},
}
_PROVIDER_TABLE: Mapping[str, _Convert | type] = {
    "enabled": _boolean,
    "proxy": _proxy,
    "profiles": _profiles,
    "refresh_before_expiry": _duration,
    "max_streams": _positive_int,
    "cooldown": _interval,
    "retries": _count,
    "retry_backoff": _interval,
    "retry_backoff_max": _interval,
}


class _Reader:
    """Walks the parsed TOML against the schema, collecting converted values."""

    def __init__(self, source: Path | None, text: str, known: Collection[str] | None) -> None:
        self.source = source
        self.lines = text.splitlines()
        self.known = known
        self.base = source.parent if source is not None else Path.cwd()

    def config(self, data: dict[str, Any]) -> Config:
        top = self.table(data, "", _TOP_LEVEL)
        browser, network, harvester, client, server, storage = (
            self.table(data.get(name, {}), name, _TABLES[name])
            for name in ("browser", "network", "harvester", "client", "server", "storage")
        )
        providers = {}
        for name, table in data.get("providers", {}).items():
            key = f"providers.{name}"
            if self.known is not None and name not in self.known:
                raise self.error(
                    f"unknown provider {name!r} in [{key}]; known providers: "
                    f"{', '.join(sorted(self.known))}",
                    key,
                )
            providers[name] = ProviderConfig(**self.table(table, key, _PROVIDER_TABLE))
        return Config(
            database=self.database(top["database"]) if "database" in top else default_database(),
            browser=BrowserConfig(
                executable=self.path(browser["executable"]) if "executable" in browser else None,
                headless=browser.get("headless", True),
                args=browser.get("args", ()),
                **{k: browser[k] for k in ("cdp", "capture_bind", "capture_host") if k in browser},
            ),
            network=NetworkConfig(
                proxy=network.get("proxy"),
                ca_bundle=self.path(network["ca_bundle"]) if "ca_bundle" in network else None,
            ),
            harvester=HarvesterConfig(**harvester),
            client=ClientConfig(**client),
            server=ServerConfig(**server),
            providers=providers,
            source=self.source,
            storage=StorageConfig(**storage),
        )

    def table(
        self, data: Any, prefix: str, schema: Mapping[str, _Convert | type]
    ) -> dict[str, Any]:
        """Check one table's keys and convert its values."""
        if not isinstance(data, dict):
            raise self.error(f"{prefix} must be a table, got {_type_name(data)}", prefix)
        values = {}
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else key
            if key not in schema:
                where = f"in [{prefix}]" if prefix else "at the top level"
                raise self.error(
                    f"unknown key {path!r}; valid keys {where}: {', '.join(sorted(schema))}", path
                )
            convert = schema[key]
            if convert is dict:
                if not isinstance(value, dict):
                    raise self.error(f"{path} must be a table, got {_type_name(value)}", path)
                continue
            try:
                values[key] = convert(value)
            except _Invalid as exc:
                raise self.error(f"{path} must be {exc}, got {_type_name(value)}", path) from None
        return values

    def database(self, value: Path | str) -> Path | str:
        """A database: a URL as it is, a path relative to the file's directory."""
        return value if isinstance(value, str) else self.path(str(value))

    def path(self, value: str) -> Path:
        """A path from the file, relative to the file's own directory."""
        return (self.base / Path(value).expanduser()).absolute()

    def error(self, message: str, key_path: str) -> ConfigError:
        return ConfigError(
            message,
            path=str(self.source) if self.source is not None else None,
            line=self.line_of(key_path),
        )

    def line_of(self, key_path: str) -> int | None:
        """Best effort: the line that sets ``key_path`` (for messages only)."""
        names = key_path.split(".")
        whole = _header(names)
        for number, line in enumerate(self.lines, 1):
            if whole.match(line):
                return number
        *tables, leaf = names
        header = _header(tables) if tables else None
        key = re.compile(r"^\s*[\"']?" + re.escape(leaf) + r"[\"']?\s*=")
        dotted = re.compile(r"^\s*" + r"\s*\.\s*".join(map(re.escape, names)) + r"\s*=")
        in_table = header is None
        for number, line in enumerate(self.lines, 1):
            if line.lstrip().startswith("["):
                in_table = header is not None and bool(header.match(line))
            elif (in_table and key.match(line)) or dotted.match(line):
                return number
        return None


def _header(names: list[str]) -> re.Pattern[str]:
    """A regex for the table header ``[a.b]`` of ``names``."""
    return re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, names)) + r"\s*\]\s*(#.*)?$")
