"""The TOML configuration: defaults, overrides and errors that say where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import Config, ConfigError, load_config, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harvest.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(environ={})
    assert config.database.name == "credentials.db"
    assert "session-harvest" in str(config.database)
    assert config.browser.headless is True
    assert config.browser.executable is None
    assert config.browser.args == ()
    assert config.network.proxy is None
    assert config.harvester.concurrency == 2
    assert config.providers == {}
    assert config.provider("cloudflare").profiles == ("default",)
    assert config.provider("cloudflare").refresh_before_expiry == 300
    assert config.source is None


def test_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database = "data/creds.db"

[browser]
executable = "/usr/bin/chromium"
headless = false
args = ["--ignore-certificate-errors"]

[network]
proxy = "http://127.0.0.1:8080"
ca_bundle = "ca.pem"

[harvester]
concurrency = 4

[providers.cloudflare]
enabled = false
proxy = "socks5://127.0.0.1:1080"
profiles = ["a", "b"]
refresh_before_expiry = "1h30m"

[providers.flowgpt]
""",
    )
    config = load_config(path, environ={})
    assert config == Config(
        database=tmp_path / "data" / "creds.db",
        browser=config.browser,
        network=config.network,
        harvester=config.harvester,
        providers=config.providers,
        source=path,
    )
    assert config.browser.executable == Path("/usr/bin/chromium")
    assert config.browser.headless is False
    assert config.browser.args == ("--ignore-certificate-errors",)
    assert config.network.ca_bundle == tmp_path / "ca.pem"  # relative to the file
    assert config.harvester.concurrency == 4
    cloudflare = config.provider("cloudflare")
    assert (cloudflare.enabled, cloudflare.profiles) == (False, ("a", "b"))
    assert cloudflare.refresh_before_expiry == 5400
    assert config.proxy_for("cloudflare") == "socks5://127.0.0.1:1080"
    assert config.proxy_for("flowgpt") == "http://127.0.0.1:8080"
    assert config.provider("flowgpt").enabled is True


def test_environment_variables(tmp_path: Path) -> None:
    path = write(tmp_path, 'database = "from-file.db"\n')
    config = load_config(environ={"HARVEST_CONFIG": str(path)})
    assert config.database == tmp_path / "from-file.db"
    assert config.source == path
    config = load_config(environ={"HARVEST_CONFIG": str(path), "HARVEST_DB": "/x/env.db"})
    assert config.database == Path("/x/env.db")
    assert load_config(environ={"HARVEST_DB": "/x/env.db"}).database == Path("/x/env.db")
    # --config wins over HARVEST_CONFIG.
    other = tmp_path / "other.toml"
    other.write_text('database = "other.db"\n')
    assert (
        load_config(other, environ={"HARVEST_CONFIG": str(path)}).database == tmp_path / "other.db"
    )


# (file text, message pattern, line): each error names the file, the key and what to do.
ERRORS = {
    "unknown top-level key": (
        'databse = "x"\n',
        r"unknown key 'databse'; valid keys at the top level: browser, "
        r"client, database, harvester, network, providers",
        1,
    ),
    "unknown key in a table": (
        "[browser]\nheadless = true\nexecutable_path = 'x'\n",
        r"unknown key 'browser.executable_path'; valid keys in \[browser\]: args, capture_bind, "
        r"capture_host, cdp, executable, headless",
        3,
    ),
    "unknown key in a provider table": (
        "[providers.cloudflare]\nenable = true\n",
        r"unknown key 'providers.cloudflare.enable'; valid keys in \[providers.cloudflare\]: "
        r"cooldown, enabled, max_streams, profiles, proxy, refresh_before_expiry",
        2,
    ),
    "dotted key": ("browser.headles = true\n", r"unknown key 'browser.headles'", 1),
    "wrong type: boolean": (
        '\n[browser]\nheadless = "yes"\n',
        r"browser.headless must be a boolean \(true or false\), got a string",
        3,
    ),
    "wrong type: list": (
        "[browser]\nargs = '--x'\n",
        r"browser.args must be a list of strings, got a string",
        2,
    ),
    "wrong type: list items": (
        "[browser]\nargs = [1]\n",
        r"browser.args must be a list of strings, got a list",
        2,
    ),
    "wrong type: integer": (
        "[harvester]\nconcurrency = 0\n",
        r"harvester.concurrency must be an integer of at least 1, got an integer",
        2,
    ),
    "wrong type: table": ("browser = 1\n", r"browser must be a table, got an integer", 1),
    "wrong type: database": ("database = 5\n", r"database must be a string, got an integer", 1),
    "bad duration": (
        "[providers.cloudflare]\nrefresh_before_expiry = '5 minutes'\n",
        r"providers.cloudflare.refresh_before_expiry must be a duration such as \"5m\"",
        2,
    ),
    "empty profiles": (
        "[providers.cloudflare]\nprofiles = []\n",
        r"providers.cloudflare.profiles must be a non-empty list",
        2,
    ),
    "bad proxy": (
        "[network]\nproxy = 'ftp://u:hunter2@h:1'\n",
        r"network.proxy must be a proxy URL like http://host:port",
        2,
    ),
    "a NaN duration": (
        "[client]\nconnect_timeout = nan\n",
        r"client.connect_timeout must be a duration .*finite",
        2,
    ),
    "an infinite duration": ("[client]\nidle_timeout = inf\n", r"finite", 2),
    "an absurd duration": ("[client]\nrefresh_timeout = 1e300\n", r"over a year", 2),
    "an absurd duration in text": ("[harvester]\nbackoff_max = '9999d'\n", r"over a year", 2),
    "a zero poll interval": (
        "[harvester]\npoll_interval = 0\n",
        r"harvester.poll_interval must be a duration above zero",
        2,
    ),
    "a zero backoff": ("[harvester]\nbackoff = '0s'\n", r"above zero", 2),
    "a zero retry backoff": (
        "[providers.cloudflare]\nretry_backoff = 0\n",
        r"providers.cloudflare.retry_backoff must be a duration above zero",
        2,
    ),
    "a profile with a newline": (
        '[providers.cloudflare]\nprofiles = ["a\\nb"]\n',
        r"profile names \(printable",
        2,
    ),
    "a profile with a tab": ('[providers.cloudflare]\nprofiles = ["\\t"]\n', r"printable", 2),
    "a proxy host with a space": (
        "[network]\nproxy = 'http://my proxy:8080'\n",
        r"network.proxy must be a proxy URL",
        2,
    ),
    "provider table not a table": (
        "[providers]\ncloudflare = 1\n",
        r"providers.cloudflare must be a table",
        2,
    ),
}


@pytest.mark.parametrize(("text", "pattern", "line"), ERRORS.values(), ids=ERRORS.keys())
def test_invalid_file(tmp_path: Path, text: str, pattern: str, line: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_config(path, environ={})
    error = caught.value
    assert str(error).startswith(f"{path}, line {line}: ")
    assert (error.path, error.line) == (str(path), line)
    assert "hunter2" not in str(error)
    assert isinstance(error, ValueError)


def test_deep_nesting_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path, environ={})


def test_unknown_provider_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "[providers.cloudflair]\nenabled = true\n")
    with pytest.raises(
        ConfigError,
        match=r"line 1: unknown provider 'cloudflair'.*"
        r"known providers: cloudflare, flowgpt",
    ):
        load_config(path, environ={}, known_providers=["flowgpt", "cloudflare"])
    assert load_config(path, environ={}).providers.keys() == {"cloudflair"}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[browser]\nheadless = \n", 2, "Invalid value"),
        ("a = 1\na = 2\n", 2, "Cannot overwrite a value"),
        ("[browser\n", 1, "Expected ']'"),
    ],
    ids=["missing value", "duplicate key", "unclosed table"],
)
def test_malformed_toml_names_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}, line {line}: not valid TOML: {reason}"):
        load_config(path, environ={})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"^{tmp_path}/missing.toml: cannot read the config "
        "file: No such file or directory",
    ):
        load_config(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="Is a directory"):
        load_config(tmp_path, environ={})
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=rf"^{binary}: cannot read the config file: .*utf-8"):
        load_config(binary, environ={})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        (90, 90),
        (1.5, 1.5),
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        ("1h 30m", 5400),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5 minutes", "-5", "1x", "5m3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_the_server_table_and_harvest_api_key(tmp_path: Path) -> None:
    defaults = load_config(environ={}).server
    assert (defaults.host, defaults.port, defaults.api_keys) == ("127.0.0.1", 8000, ())
    path = write(
        tmp_path,
        '[server]\nhost = "0.0.0.0"\nport = 9000\napi_keys = ["sk-first-Yv3r", "sk-second-Qp7"]\n',
    )
    server = load_config(path, environ={}).server
    assert (server.host, server.port) == ("0.0.0.0", 9000)
    assert server.api_keys == ("sk-first-Yv3r", "sk-second-Qp7")
    with_env = load_config(path, environ={"HARVEST_API_KEY": " sk-env-Zx1 "}).server
    assert with_env.api_keys == ("sk-first-Yv3r", "sk-second-Qp7", "sk-env-Zx1")
    same = load_config(path, environ={"HARVEST_API_KEY": "sk-first-Yv3r"}).server
    assert same.api_keys == ("sk-first-Yv3r", "sk-second-Qp7")
    shown = repr(load_config(path, environ={"HARVEST_API_KEY": "sk-env-Zx1"}))
    assert "sk-" not in shown
    assert "api_keys=<3 set>" in shown


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[server]\nport = 70000\n", r"server\.port must be a port number"),
        ('[server]\nport = "80"\n', r"server\.port must be a port number"),
        ('[server]\napi_keys = "sk-one"\n', r"server\.api_keys must be a list"),
        (
            '[server]\napi_keys = [" sk-secret-Hh2 "]\n',
            r"server\.api_keys must be a list of API keys",
        ),
        ('[server]\nkey = "x"\n', r"valid keys in \[server\]: api_keys, host, port"),
    ],
)
def test_a_bad_server_table_never_echoes_a_key(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_config(write(tmp_path, text), environ={})
    assert "sk-" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        '[browser]\ncdp = "ftp://user:SECRET@browser:9222"\n',
        '[browser]\ncdp = "http://browser:port?token=SECRET"\n',
        '[network]\nproxy = "socks4://user:SECRET@proxy:1080"\n',
    ],
)
def test_a_bad_browser_service_or_proxy_url_is_refused_without_echoing_it(
    tmp_path: Path, text: str
) -> None:
    with pytest.raises(
        ConfigError, match=r"(DevTools URL like|socks4 carries no password)"
    ) as caught:
        load_config(write(tmp_path, text), environ={})
    assert "SECRET" not in str(caught.value)


def test_a_browser_service_is_read_and_kept_out_of_the_repr(tmp_path: Path) -> None:
    text = (
        '[browser]\ncdp = "ws://browser:3000/devtools/browser/x?token=SECRET"\n'
        'capture_bind = "0.0.0.0"\ncapture_host = "harvester.internal"\n'
    )
    config = load_config(write(tmp_path, text), environ={})
    assert config.browser.cdp == "ws://browser:3000/devtools/browser/x?token=SECRET"
    assert (config.browser.capture_bind, config.browser.capture_host) == (
        "0.0.0.0",
        "harvester.internal",
    )
    assert "SECRET" not in repr(config)


def test_a_postgresql_database_is_kept_as_a_url_and_its_password_in_no_repr(
    tmp_path: Path,
) -> None:
    url = "postgresql://harvest:db-SECRET-8@db.internal:5432/harvest"
    config = load_config(write(tmp_path, f'database = "{url}"\n'), environ={})
    assert config.database == url  # not a path relative to the file
    assert "SECRET" not in repr(config)
    assert "postgresql://harvest:[secure]@db.internal:5432/harvest" in repr(config)
    from_env = load_config(environ={"HARVEST_DB": url})
    assert from_env.database == url
    socket_dir = "postgresql://harvest@/harvest?host=/var/run/postgresql"
    assert load_config(environ={"HARVEST_DB": socket_dir}).database == socket_dir


@pytest.mark.parametrize(
    "url", ["postgresql://harvest:db-SECRET-8@db:port/x", "postgres://harvest:db-SECRET-8@/x"]
)
def test_a_bad_database_url_is_refused_without_echoing_it(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"a URL like postgresql://") as caught:
        load_config(write(tmp_path, f'database = "{url}"\n'), environ={})
    assert "SECRET" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"HARVEST_DB must be") as caught:
        load_config(environ={"HARVEST_DB": url})
    assert "SECRET" not in str(caught.value)


def test_the_store_key_comes_from_the_file_or_the_environment_and_is_never_shown(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, '[storage]\nkey = "file-SECRET-1"\n'), environ={})
    assert config.storage.key == "file-SECRET-1"
    assert "SECRET" not in repr(config)
    assert "StorageConfig(key=<set>)" in repr(config)
    from_env = load_config(environ={"HARVEST_STORE_KEY": "env-SECRET-2"})
    assert from_env.storage.key == "env-SECRET-2"
    with pytest.raises(ConfigError, match=r"storage\.key must be a non-empty string"):
        load_config(write(tmp_path, '[storage]\nkey = ""\n'), environ={})
