"""``harvest doctor`` on the API calls: a recorded Chromium capture with every provider's
calls, replayed by the client through a real endpoint. Every call over both protocols
matches; a client that gets one thing wrong (weight, order, case) is caught by name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from client import load_config
from client.providers import provider_names
from harvester._doctor import ClientCall, run_doctor
from storage import Credential, CredentialStore

DATA = Path(__file__).resolve().parents[1] / "data"

pytestmark = pytest.mark.anyio


def recorded_credential(provider: str) -> Credential:
    data = json.loads((DATA / "chromium156_capture.json").read_text())
    headers = data["fingerprint"]["headers"]
    return Credential(
        provider=provider,
        user_agent=next(v for k, v in headers if k == "user-agent"),
        browser_name="Chromium",
        browser_version=data["browser_version"],
        impersonate="chrome150",
        fingerprint=data["fingerprint"],
        harvested_at=1_800_000_000.0,
    )


async def doctor(
    tmp_path: Path, provider: str, tamper: Callable[[ClientCall], ClientCall] | None = None
) -> tuple[int, list[str]]:
    database = tmp_path / "credentials.db"
    async with CredentialStore.open(database) as store:
        await store.put(recorded_credential(provider))
    config = await anyio.to_thread.run_sync(
        lambda: load_config(environ={"HARVEST_DB": str(database)})
    )
    lines: list[str] = []
    code = await run_doctor(config, provider, "default", lines.append, tamper=tamper)
    return code, lines


@pytest.mark.parametrize("provider", provider_names())
async def test_every_call_of_every_provider_matches_over_both_protocols(
    tmp_path: Path, provider: str
) -> None:
    code, lines = await doctor(tmp_path, provider)
    out = "\n".join(lines)
    assert code == 0, out
    assert "DIFFERS" not in out
    calls = [line for line in lines if line.startswith("match    ")]
    # The generic GET and JSON POST, and the provider's own calls, over each protocol.
    assert "match    GET over h2" in calls
    assert "match    POST application/json over http/1.1" in calls
    if provider == "flowgpt":
        assert (
            "match    POST application/json + authorization, x-flow-device-id, x-nonce, "
            "x-signature, x-timestamp over h2"
        ) in calls
        assert len(calls) == 6
    if provider == "g4f_space":
        assert "match    GET + accept, x-zerogpu-token, x-zerogpu-uuid over http/1.1" in calls
        assert len(calls) == 8
    for line in lines:
        if line.startswith("    header order, headers on one side, HEADERS priority"):
            assert "cookie fields, JA4H" in line
    assert "not reproducible by curl_cffi (not counted): grease sigalg" in out
    assert lines[-1].startswith("verdict: all ")
    assert lines[-1].endswith(" match")


def _weight(planned: ClientCall) -> ClientCall:
    # A client that sends a page load's weight (256) on its calls. (A new harvest time:
    # the transport makes a new session for it.)
    stored = json.loads(json.dumps(planned.credential.fingerprint))
    for call in stored["calls"]:
        if call["priority"]:
            call["priority"] = [1, 0, 256]
    credential = dataclasses.replace(
        planned.credential, fingerprint=stored, harvested_at=planned.credential.harvested_at + 1
    )
    return dataclasses.replace(planned, credential=credential)


def _order(planned: ClientCall) -> ClientCall:
    if planned.call.method != "POST" or planned.http != "h2":
        return planned
    headers = list(planned.headers)
    names = [k.lower() for k, _ in headers]
    ua, hint = names.index("user-agent"), names.index("sec-ch-ua")
    headers[ua], headers[hint] = headers[hint], headers[ua]
    return dataclasses.replace(planned, headers=headers)


def _case(planned: ClientCall) -> ClientCall:
    if planned.http == "h2":
        return planned
    return dataclasses.replace(planned, headers=[(k.lower(), v) for k, v in planned.headers])


@pytest.mark.parametrize(
    ("tamper", "differing", "line"),
    [
        pytest.param(
            _weight,
            "DIFFERS  GET over h2",
            "    HEADERS priority browser  exclusive=1 depends-on=0 weight=220",
            id="weight",
        ),
        pytest.param(
            _order,
            "DIFFERS  POST application/json over h2",
            "    header order     browser  ",
            id="order",
        ),
        pytest.param(
            _case, "DIFFERS  GET over http/1.1", "    header order     browser  ", id="case"
        ),
    ],
)
async def test_a_client_that_gets_one_thing_wrong_fails_naming_the_line(
    tmp_path: Path, tamper: Callable[[ClientCall], ClientCall], differing: str, line: str
) -> None:
    code, lines = await doctor(tmp_path, "cloudflare", tamper)
    out = "\n".join(lines)
    assert code == 1, out
    assert differing in lines
    assert any(text.startswith(line) for text in lines), out
    verdict = lines[-1]
    assert verdict.startswith("verdict: ")
    assert " differ (" in verdict
    if tamper is _weight:
        # Only the priority, on the HTTP/2 calls; HTTP/1.1 has none to get wrong.
        assert verdict.endswith("differ (HEADERS priority)")
        assert "weight=256" in out
        assert "DIFFERS  GET over http/1.1" not in lines
    if tamper is _order:
        assert verdict.endswith("differ (header order, JA4H)")
        assert "match    POST application/json over http/1.1" in lines
    if tamper is _case:
        assert "match    GET over h2" in lines  # HTTP/2 names are lower case anyway
        assert "user-agent" in out
        assert "User-Agent" in out


async def test_a_credential_harvested_before_calls_were_captured_is_said_to_lack_them(
    tmp_path: Path,
) -> None:
    credential = recorded_credential("flowgpt")
    assert credential.fingerprint is not None
    older = {k: v for k, v in credential.fingerprint.items() if k != "calls"}
    database = tmp_path / "credentials.db"
    async with CredentialStore.open(database) as store:
        await store.put(dataclasses.replace(credential, fingerprint=older))
    config = await anyio.to_thread.run_sync(
        lambda: load_config(environ={"HARVEST_DB": str(database)})
    )
    lines: list[str] = []
    assert await run_doctor(config, "flowgpt", "default", lines.append) == 1
    out = "\n".join(lines)
    assert "API-call order (not captured)" in out
    absent = [i for i, line in enumerate(lines) if line.endswith("DIFFERS")]
    labels = [lines[i].removesuffix("DIFFERS").strip() for i in absent]
    assert labels == [
        "GET",
        "POST application/json",
        "POST application/json + authorization, x-flow-device-id, x-nonce, x-signature, "
        "x-timestamp",
    ]
    assert lines[absent[0] + 1] == "    browser  not captured (harvested by an older version)"
    assert lines[-1] == (
        "verdict: 3 of 11 differ (GET, POST application/json, POST application/json + "
        "authorization, x-flow-device-id, x-nonce, x-signature, x-timestamp)"
    )
