"""Every provider of ``client.providers.PROVIDERS`` together: the list's rules, then
through the command line (one refresh harvests them all, ``status`` shows them all,
``models`` lists each one's models and aliases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client._provider import check_provider_class
from client.providers import PROVIDERS, provider_class, provider_names
from storage import CredentialStore

from ..emulators.rig import Rig, emulator_class
from ._cli import cli_env, run_cli

ALL = provider_names()
HERE = Path(__file__).resolve().parent


def test_the_list_names_each_provider_once_with_its_declarations() -> None:
    names = [cls.name for cls in PROVIDERS]
    assert len(set(names)) == len(names)
    assert sorted(names) == ALL == ["cloudflare", "flowgpt", "freenetfly", "g4f_space"]
    for cls in PROVIDERS:
        check_provider_class(cls)  # every declaration, and the Provider suffix
        assert cls.__module__ == f"client.providers.{cls.name}"
        assert provider_class(cls.name) is cls


@pytest.mark.parametrize("name", ALL)
def test_each_provider_has_an_emulator_and_a_test_table(name: str) -> None:
    emulator = emulator_class(name)
    assert emulator.provider == name
    assert emulator.hosts
    tests = (HERE / f"test_{name}.py").read_text()
    assert "pytest.param(" in tests  # its table of cases


async def secrets_in(database: Path) -> set[str]:
    """Every secret the store holds: tokens, cookie values, the page-set header values."""
    async with CredentialStore.open(database) as store:
        credentials = await store.list()
    found = set()
    for credential in credentials:
        found.update(credential.tokens.values())
        found.update(c.value for c in credential.cookies)
        found.update(
            v
            for k, v in credential.headers
            if k.lower().startswith("x-") or k.lower() == "authorization"
        )
    return {s for s in found if len(s) >= 8}  # short values ("1") would match by chance


@pytest.mark.browser
@pytest.mark.anyio
async def test_every_command_with_v_shows_no_secret(
    private_rig: Rig, chromium: str, tmp_path: Path
) -> None:
    # A rig of its own: its chats must not add to the shared emulators' records.
    env = cli_env(private_rig, tmp_path, chromium)
    outputs = []
    code, out, err = await run_cli(["-v", "refresh"], env, within=180)
    assert code == 0, err
    outputs.append(out + err)
    secrets = await secrets_in(tmp_path / "credentials.db")
    commands = [
        ["-v", "status"],
        ["-v", "status", "--json"],
        ["-v", "models", "cloudflare"],
        ["-v", "chat", "-p", "cloudflare", "Hello"],  # rotates __cf_bm: a new secret
        ["-v", "chat", "-p", "freenetfly", "Hello"],
        ["-v", "chat", "-p", "flowgpt", "Hello"],
        ["-v", "doctor", "freenetfly"],
    ]
    for command in commands:
        code, out, err = await run_cli(command, env, within=180)
        assert code == 0, (command, err)
        outputs.append(out + err)
    secrets |= await secrets_in(tmp_path / "credentials.db")
    assert len(secrets) >= 6
    assert any("DEBUG" in o for o in outputs)  # -v did show our debug lines
    leaked = [(s[:6], n) for s in secrets for n, o in enumerate(outputs) if s in o]
    assert not leaked


@pytest.mark.browser
@pytest.mark.anyio
async def test_refresh_status_and_models_for_all(rig: Rig, chromium: str, tmp_path: Path) -> None:
    env = cli_env(rig, tmp_path, chromium)
    code, out, err = await run_cli(["refresh"], env, within=180)
    assert code == 0, err
    assert sorted(line.split()[1] for line in out.splitlines()) == [f"{p}/default" for p in ALL]
    assert all(line.startswith("ok ") for line in out.splitlines()), out

    code, out, err = await run_cli(["status", "--json"], env)
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["provider"], r["status"]) for r in rows] == [(p, "fresh") for p in ALL]
    code, table, err = await run_cli(["status"], env)
    assert code == 0, err
    assert [line.split()[0] for line in table.splitlines()[1:]] == ALL
    async with CredentialStore.open(tmp_path / "credentials.db") as store:
        secrets = [
            value
            for credential in await store.list()
            for value in [*credential.tokens.values(), *(c.value for c in credential.cookies)]
        ]
    assert len(secrets) >= 6  # tokens of flowgpt and g4f_space, everyone's cookies
    assert not [s for s in secrets if s in out or s in table]

    for name in ALL:
        code, out, err = await run_cli(["models", name], env)
        assert code == 0, err
        adapter = provider_class(name)
        listed = [line.split()[0] for line in out.splitlines()]
        assert set(adapter.models) <= set(listed)
        assert out.splitlines()[0].startswith(adapter.default_model)
        for alias in adapter.aliases:
            assert alias in out
