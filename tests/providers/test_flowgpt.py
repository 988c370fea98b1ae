"""FlowGPT: signing, the body, the NDJSON parser, and the product end to end against
the emulator (a refused signature is signed again without a browser; a refused cookie
is harvested again)."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest

from client import (
    AsyncClient,
    ChatRequest,
    Config,
    Event,
    Message,
    ProviderError,
    TextDelta,
)
from client.providers.flowgpt import FlowGPTProvider, NDJSONParser, chat_body, signature_headers
from harvester import Harvester
from storage import Credential, CredentialStatus

from ..conftest import fast
from ..emulators.flowgpt import Fault, FlowGPTEmulator, answer_text
from ..emulators.rig import Rig
from ._cli import cli_env, run_cli

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Say hello"},
]


def expected(messages: list[dict[str, str]] = MESSAGES, model: str = "gpt-3.5-turbo") -> str:
    request = ChatRequest(model, tuple(Message(m["role"], m["content"]) for m in messages))
    return "".join(answer_text(chat_body(request)))


def test_signature_is_md5_of_timestamp_nonce_authorization() -> None:
    nonce = "0123456789abcdef0123456789abcdef"
    headers = dict(signature_headers(1_700_000_000.9, nonce))
    digest = hashlib.md5(f"1700000000-{nonce}-Bearer null".encode()).hexdigest()
    assert headers == {
        "authorization": "Bearer null",
        "x-nonce": nonce,
        "x-signature": digest,
        "x-timestamp": "1700000000",
    }


def test_the_body_asks_the_last_message_with_the_rest_as_history() -> None:
    request = ChatRequest("claude-v2", tuple(Message(m["role"], m["content"]) for m in MESSAGES))
    body = chat_body(request)
    assert body == {
        "model": "claude-v2",
        "nsfw": False,
        "question": "Say hello",
        "history": [
            {"role": "assistant", "content": "Hello, how can I help you today?"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ],
        "system": "Be brief.",
        "temperature": 0.7,
        "promptId": "model-claude-v2",
        "documentIds": [],
        "chatFileDocumentIds": [],
        "generateImage": False,
        "generateAudio": False,
    }
    alone = chat_body(ChatRequest("gpt-4-turbo", (Message("user", "x"),)))
    assert alone["history"] == [body["history"][0]]
    assert alone["system"].startswith("You are helpful assistant")


@pytest.mark.parametrize(
    ("name", "model"),
    [(None, "gpt-3.5-turbo"), ("gemini", "google-gemini"), ("gemini-pro", "google-gemini")],
)
def test_models_and_aliases(name: str | None, model: str) -> None:
    assert FlowGPTProvider().resolve_model(name) == model


@pytest.mark.parametrize(
    ("lines", "events", "warnings"),
    [
        pytest.param(
            ['{"event":"text","data":"Hel"}', '{"event":"text","data":"lo"}'],
            [TextDelta("Hel"), TextDelta("lo")],
            0,
            id="text events",
        ),
        pytest.param(
            ['{"event":"status","data":"x"}', '{"data":"no event"}', '{"event":"text"}', ""],
            [],
            0,
            id="other events skipped",
        ),
        pytest.param(['{"event":"text","data":', "[1, 2]", "nope"], [], 3, id="garbage"),
    ],
)
def test_ndjson_parser(
    lines: list[str], events: list[Event], warnings: int, caplog: pytest.LogCaptureFixture
) -> None:
    parser = NDJSONParser()
    with caplog.at_level(logging.WARNING, "client.flowgpt"):
        assert [e for line in lines for e in parser.feed(line)] == events
    assert len(caplog.records) == warnings


# -- end to end ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_signed_chat_streams_the_exact_answer(
    stored: Config, flowgpt: FlowGPTEmulator, harvested: dict[str, Credential]
) -> None:
    flowgpt.add_fault(Fault(malformed=True))
    async with AsyncClient(stored) as client:
        first = [e async for e in client.stream("flowgpt", MESSAGES, model="gemini")]
        second = [e async for e in client.stream("flowgpt", "count to 3")]
    assert "".join(first) == expected(model="google-gemini")
    assert "".join(second) == " 1 2 3"
    requests = flowgpt.chat_requests()
    device = harvested["flowgpt"].tokens["device_id"]
    assert re.fullmatch(r"f-[a-z0-9]{19}", device)
    # One device id per credential; a fresh nonce per request.
    assert {r.header("x-flow-device-id") for r in requests} == {device}
    assert len({r.header("x-nonce") for r in requests}) == 2
    assert requests[0].header("origin") == "https://flowgpt.com"
    assert requests[0].header("sec-fetch-site") == "same-site"
    assert requests[0].host == "prod-backend-k8s.flowgpt.com"


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_stale_signature_is_signed_again_once_without_a_browser(
    stored: Config, flowgpt: FlowGPTEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    flowgpt.add_fault(Fault(skew=900))  # the site's clock is 15 minutes ahead, once
    with caplog.at_level(logging.INFO, "client.flowgpt"):
        async with AsyncClient(stored) as client:  # no refresher: a harvest would fail
            events = [e async for e in client.stream("flowgpt", MESSAGES)]
    assert "".join(events) == expected()
    first, second = flowgpt.chat_requests()
    assert first.header("x-nonce") != second.header("x-nonce")
    assert "the signature was refused (401); signing again" in caplog.text


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_signature_refused_twice_is_an_error_not_a_harvest(
    stored: Config, flowgpt: FlowGPTEmulator
) -> None:
    flowgpt.add_fault(Fault(skew=900))
    flowgpt.add_fault(Fault(skew=900))
    async with AsyncClient(stored) as client:
        with pytest.raises(ProviderError, match="refused twice") as caught:
            _ = [e async for e in client.stream("flowgpt", MESSAGES)]
        credential = await client.store.get("flowgpt", "default")
    assert caught.value.status == 401
    assert "Request expired" in caught.value.body
    assert credential is not None
    assert credential.status == CredentialStatus.FRESH  # the cookie was never in doubt
    assert len(flowgpt.chat_requests()) == 2


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_refused_cookie_is_harvested_again_and_the_cli_streams(
    private_rig: Rig, chromium: str, tmp_path: Path
) -> None:
    config = fast(private_rig.config(tmp_path / "credentials.db", chromium))
    async with Harvester(config) as harvester, AsyncClient(config, refresher=harvester) as client:
        first = await harvester.refresh("flowgpt")
        private_rig.flowgpt.invalidate()
        events = [e async for e in client.stream("flowgpt", "count to 4")]
        attempts = await client.store.recent_attempts("flowgpt")
        now = await client.store.get("flowgpt", "default")
    assert "".join(events) == " 1 2 3 4"
    assert len(attempts) == 2
    assert now is not None
    assert now.tokens["device_id"] != first.tokens["device_id"]  # a new credential, a new id

    env = cli_env(private_rig, tmp_path, chromium)
    code, out, err = await run_cli(
        ["chat", "-p", "flowgpt", "--system", "Be brief.", "Say hello"], env
    )
    assert code == 0, err
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    assert out == expected(messages) + "\n"
