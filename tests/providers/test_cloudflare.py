"""The Cloudflare provider: its parser and body, and the product end to end with it.

End to end means: real Chromium harvests the emulated playground through the CONNECT
proxy, then the command line, the library, the OpenAI-style facade and the blocking
client stream the answer with what it harvested.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from client import (
    AsyncClient,
    ChatRequest,
    Client,
    Config,
    Event,
    FinishReason,
    Message,
    ProviderError,
    TextDelta,
    Transport,
    UnknownModel,
    Usage,
    describe_fingerprint,
)
from client._cookies import cookie_header
from client.providers.cloudflare import CloudflareProvider, DataStreamParser, inference_body
from fingerprint import Fingerprint, request_headers
from harvester import Harvester
from storage import Credential, CredentialStatus, CredentialStore

from ..conftest import fast
from ..emulators.cloudflare import HOST, MODELS, CloudflareEmulator, answer_text
from ..emulators.rig import Rig
from ._cli import ROOT, cli_env, run_cli

# -- the data-stream parser ------------------------------------------------------------

USAGE = '{"finishReason":"stop","usage":{"promptTokens":3,"completionTokens":2}'


@pytest.mark.parametrize(
    ("lines", "events"),
    [
        pytest.param(['0:"Hel"', '0:"lo"'], [TextDelta("Hel"), TextDelta("lo")], id="text"),
        pytest.param(['0:"日本 🚀\\n"'], [TextDelta("日本 🚀\n")], id="unicode and escapes"),
        pytest.param(
            ["e:" + USAGE + ',"isContinued":false}', "d:" + USAGE + "}"],
            [Usage(3, 2), FinishReason("stop")],
            id="e: reports, d: does not repeat it",
        ),
        pytest.param(["d:" + USAGE + "}"], [Usage(3, 2), FinishReason("stop")], id="d: alone"),
        pytest.param(
            ['e:{"finishReason":"length"}'], [FinishReason("length")], id="finish without usage"
        ),
        pytest.param(
            ['f:{"messageId":"m"}', '2:[{"a":1}]', "8:[{}]", '9:{"x":1}', 'a:{"y":2}'],
            [],
            id="other types ignored",
        ),
        pytest.param(
            ["", "garbage", "no colon here", "xy:1", '0:"unterminated', "0:42", '0:""'],
            [],
            id="garbage skipped",
        ),
    ],
)
def test_data_stream_parser(lines: list[str], events: list[Event]) -> None:
    parser = DataStreamParser()
    assert [e for line in lines for e in parser.feed(line)] == events


def test_an_error_record_raises_the_services_message() -> None:
    with pytest.raises(ProviderError, match="reported an error: model is overloaded"):
        DataStreamParser().feed('3:"model is overloaded"')


def test_the_inference_body_follows_the_playground() -> None:
    request = ChatRequest(
        model="@cf/qwen/qwen2.5-coder-32b-instruct",
        messages=(
            Message("system", "Be brief."),
            Message("system", "Use Python."),
            Message("user", "Hi"),
            Message("assistant", "Hello!"),
            Message("user", "Sort a list"),
        ),
        options={"max_tokens": 100},
    )
    assert inference_body(request) == {
        "messages": [
            {"role": "user", "content": "Hi", "parts": [{"type": "text", "text": "Hi"}]},
            {
                "role": "assistant",
                "content": "Hello!",
                "parts": [{"type": "text", "text": "Hello!"}],
            },
            {
                "role": "user",
                "content": "Sort a list",
                "parts": [{"type": "text", "text": "Sort a list"}],
            },
        ],
        "lora": None,
        "model": "@cf/qwen/qwen2.5-coder-32b-instruct",
        "max_tokens": 100,
        "stream": True,
        "system_message": "Be brief.\nUse Python.",
        "tools": [],
    }
    default = inference_body(ChatRequest("m", (Message("user", "x"),)))
    assert default["system_message"] == "You are a helpful assistant"
    assert default["max_tokens"] == 2048


@pytest.mark.parametrize(
    ("name", "model"),
    [
        (None, "@cf/meta/llama-3.3-70b-instruct-fp8-fast"),
        ("llama-3.3-70b", "@cf/meta/llama-3.3-70b-instruct-fp8-fast"),
        ("llama-3.1-8b", "@cf/meta/llama-3.1-8b-instruct-fp8"),
        ("llama-2-7b", "@cf/meta/llama-2-7b-chat-int8"),
        ("qwen-2.5-coder-32b", "@cf/qwen/qwen2.5-coder-32b-instruct"),
        ("deepseek-distill-qwen-32b", "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b"),
        ("@cf/meta/llama-2-7b-chat-int8", "@cf/meta/llama-2-7b-chat-int8"),
    ],
)
def test_models_and_aliases(name: str | None, model: str) -> None:
    assert CloudflareProvider().resolve_model(name) == model


def test_an_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownModel, match="cloudflare has no model 'gpt-5'; valid models: ") as e:
        CloudflareProvider().resolve_model("gpt-5")
    assert "llama-3.3-70b" in e.value.valid
    assert "@cf/qwen/qwen2.5-coder-32b-instruct" in e.value.valid


# -- end to end ------------------------------------------------------------------------

PROMPT = "Say hello"


def expected_text(prompt: str = PROMPT, system: str = "You are a helpful assistant") -> str:
    body = {
        "model": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        "messages": [{"content": prompt}],
        "system_message": system,
    }
    return "".join(answer_text(body))


@pytest.mark.browser
@pytest.mark.anyio
async def test_cli_refresh_then_chat_streams_the_answer_as_it_arrives(
    rig: Rig, cloudflare: CloudflareEmulator, chromium: str, tmp_path: Path
) -> None:
    env = cli_env(rig, tmp_path, chromium)
    code, out, err = await run_cli(["refresh", "cloudflare"], env)
    assert code == 0, err
    assert out.startswith("ok      cloudflare/default")

    cloudflare.state.chunk_delay = 0.05  # about two seconds of stream
    started = cloudflare.state.streams_finished
    args = ["chat", "-p", "cloudflare", "-m", "llama-3.3-70b", PROMPT]
    with anyio.fail_after(60):
        process = await anyio.open_process(
            [sys.executable, "-m", "harvester", *args], env=env, cwd=ROOT
        )
        async with process:
            assert process.stdout is not None
            assert process.stderr is not None
            first = await process.stdout.receive()
            # The first text is on the terminal while the emulator is still sending.
            assert cloudflare.state.streams_finished == started
            rest = [first] + [chunk async for chunk in process.stdout]
            err_bytes = b"".join([chunk async for chunk in process.stderr])
        assert await process.wait() == 0
    assert b"".join(rest).decode() == expected_text() + "\n"
    completion = len(answer_text(cloudflare.inference_requests()[-1].json()))
    assert err_bytes.decode() == f"usage: 2 prompt + {completion} completion tokens; finish: stop\n"
    assert cloudflare.state.streams_finished == started + 1


@pytest.mark.browser
@pytest.mark.anyio
async def test_cli_chat_harvests_when_there_is_no_credential_and_models_lists_the_live_ones(
    rig: Rig, cloudflare: CloudflareEmulator, chromium: str, tmp_path: Path
) -> None:
    env = cli_env(rig, tmp_path, chromium)
    code, out, err = await run_cli(["models", "cloudflare"], env)
    assert code == 0
    assert "no credential yet to read the live model list; using the built-in list" in err
    assert "@cf/mistral/mistral-7b-instruct-v0.2-lora" not in out  # only in the live list

    code, out, err = await run_cli(["chat", "-p", "cloudflare", "--no-refresh", "x"], env)
    assert code == 1
    assert "no credential for cloudflare/default yet; run `harvest refresh cloudflare`" in err

    code, out, err = await run_cli(
        ["chat", "-p", "cloudflare", "--system", "Be brief.", PROMPT], env
    )
    assert code == 0, err
    assert out == expected_text(system="Be brief.") + "\n"
    assert "getting a credential for cloudflare/default with Chromium" in err

    code, out, err = await run_cli(["models", "cloudflare"], env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "@cf/meta/llama-3.3-70b-instruct-fp8-fast  (default; aliases: llama-3.3-70b)"
    assert [line.split()[0] for line in lines] == list(MODELS)

    code, out, err = await run_cli(["chat", "-p", "cloudflare", "-m", "gpt-5", "x"], env)
    assert code == 2
    assert "cloudflare has no model 'gpt-5'; valid models: deepseek-distill-qwen-32b" in err
    code, out, err = await run_cli(["chat", "-p", "nope", "x"], env)
    assert code == 2
    assert "unknown provider 'nope'; valid providers: cloudflare" in err


@pytest.mark.browser
@pytest.mark.anyio
async def test_the_library_the_openai_facade_and_the_blocking_client_agree(
    rig: Rig, cloudflare_credential: Credential, rig_config: Config, cloudflare: CloudflareEmulator
) -> None:
    async with CredentialStore.open(rig_config.database) as store:
        await store.put(cloudflare_credential)
    messages = [{"role": "user", "content": PROMPT}]
    async with AsyncClient(rig_config) as client:
        events = [e async for e in client.stream("cloudflare", messages, model="llama-3.3-70b")]
        completion = await client.chat.completions.create(
            model="llama-3.3-70b", messages=messages, provider="cloudflare"
        )
        chunks = [
            c
            async for c in await client.chat.completions.create(
                model="llama-3.3-70b", messages=messages, provider="cloudflare", stream=True
            )
        ]
        live_only = [
            e
            async for e in client.stream(
                "cloudflare", "x", model="@cf/mistral/mistral-7b-instruct-v0.2-lora"
            )
        ]

    text = "".join(e for e in events if isinstance(e, str))
    usage = next(e for e in events if isinstance(e, Usage))
    assert text == expected_text()
    assert events[-1] == FinishReason("stop")

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert completion.usage.total_tokens == usage.total_tokens
    assert (
        json.loads(json.dumps(completion.model_dump()))["choices"][0]["message"]["content"] == text
    )

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage == completion.usage
    assert any(isinstance(e, str) for e in live_only)  # a model only the live list has

    def blocking() -> tuple[str, Any]:
        with Client(rig_config) as sync:
            sync_text = "".join(
                e
                for e in sync.stream("cloudflare", messages, model="llama-3.3-70b")
                if isinstance(e, str)
            )
            sync_completion = sync.chat.completions.create(
                model="llama-3.3-70b", messages=messages, provider="cloudflare"
            )
            sync_chunks = list(
                sync.chat.completions.create(
                    model="llama-3.3-70b", messages=messages, provider="cloudflare", stream=True
                )
            )
        return sync_text, (sync_completion, sync_chunks)

    sync_text, (sync_completion, sync_chunks) = await anyio.to_thread.run_sync(blocking)
    assert sync_text == text
    assert sync_completion.choices[0].message.content == text
    assert sync_completion.usage == completion.usage
    assert "".join(c.choices[0].delta.content or "" for c in sync_chunks) == text


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_rejected_clearance_is_harvested_again_once_and_the_chat_succeeds(
    private_rig: Rig, chromium: str, database: Path | str
) -> None:
    # Once per engine: the embedded SQLite file and a PostgreSQL database.
    config = fast(private_rig.config(database, chromium))
    async with Harvester(config) as harvester, AsyncClient(config, refresher=harvester) as client:
        first = await harvester.refresh("cloudflare")
        private_rig.cloudflare.invalidate()
        events = [e async for e in client.stream("cloudflare", PROMPT)]
        attempts = await client.store.recent_attempts("cloudflare")
        now = await client.store.get("cloudflare", "default")
    assert "".join(e for e in events if isinstance(e, str)) == expected_text()
    assert len(attempts) == 2  # the first harvest and exactly one more
    assert all(a.ok for a in attempts)
    assert now is not None
    assert now.status == CredentialStatus.FRESH
    assert now.harvested_at > first.harvested_at
    assert len(private_rig.cloudflare.inference_requests()) == 2  # refused once, then served


@pytest.mark.browser
@pytest.mark.anyio
async def test_ten_concurrent_streams_hitting_a_rejection_cause_one_harvest(
    private_rig: Rig, chromium: str, tmp_path: Path
) -> None:
    config = fast(private_rig.config(tmp_path / "credentials.db", chromium))
    texts: list[str] = []
    async with Harvester(config) as harvester, AsyncClient(config, refresher=harvester) as client:
        await harvester.refresh("cloudflare")
        private_rig.cloudflare.invalidate()

        async def one(n: int) -> None:
            events = [e async for e in client.stream("cloudflare", f"count to {n}")]
            texts.append("".join(e for e in events if isinstance(e, str)))

        async with anyio.create_task_group() as group:
            for n in range(1, 11):
                group.start_soon(one, n)
        attempts = await client.store.recent_attempts("cloudflare")
        assert harvester.browser_launches == 1
    assert len(attempts) == 2  # the first harvest and exactly one more
    assert sorted(texts, key=len) == [
        "".join(f" {i}" for i in range(1, n + 1)) for n in range(1, 11)
    ]


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_running_daemon_serves_the_clients_refresh_request(
    private_rig: Rig, chromium: str, tmp_path: Path, database: Path | str
) -> None:
    # Once per engine: a daemon process and a client on one SQLite file, and on one
    # PostgreSQL database (the daemon's presence a heartbeat row there).
    # The daemon's own schedule is far away: only the client's request makes it harvest.
    schedule = {"providers.cloudflare": {"refresh_before_expiry": "1m"}}
    env = cli_env(private_rig, tmp_path, chromium, **schedule)
    env["HARVEST_DB"] = str(database)
    config = fast(private_rig.config(database, chromium))
    first = await Harvester(config).refresh("cloudflare")
    private_rig.cloudflare.invalidate()
    logs = tmp_path / "daemon.log"
    with logs.open("wb") as log:
        daemon = await anyio.open_process(
            [sys.executable, "-m", "harvester", "daemon"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    try:
        async with AsyncClient(config) as client:  # no refresher: the daemon serves it
            with anyio.fail_after(90):
                # Only the store tells when the daemon is up: poll it.
                while await client.store.running_daemon() is None:  # noqa: ASYNC110
                    await anyio.sleep(0.1)
                events = [e async for e in client.stream("cloudflare", PROMPT)]
            now = await client.store.get("cloudflare", "default")
    finally:
        daemon.terminate()
        with anyio.fail_after(30):
            await daemon.wait()
    assert "".join(e for e in events if isinstance(e, str)) == expected_text(), logs.read_text()
    assert now is not None
    assert now.harvested_at > first.harvested_at


@pytest.mark.browser
@pytest.mark.anyio
async def test_the_clearance_is_bound_to_the_solving_browsers_ja4(
    cloudflare: CloudflareEmulator, cloudflare_credential: Credential, rig_config: Config
) -> None:
    """A client with the right cookies and user agent but the TLS of curl_cffi's plain
    ``chrome`` target is refused; the client replaying the captured fingerprint is not."""
    url = f"https://{HOST}/api/models"
    headers = request_headers(
        cloudflare_credential.headers,
        cookie=cookie_header(cloudflare_credential.cookies_for(url)),
    )
    naive = dataclasses.replace(cloudflare_credential, fingerprint=None, impersonate="chrome")
    transport = Transport(rig_config.client, ca_bundle=rig_config.network.ca_bundle)
    statuses = []
    try:
        for credential in (naive, cloudflare_credential):
            async with transport.request(credential, "GET", url, headers=headers) as reply:
                statuses.append((reply.status, reply.header("cf-mitigated")))
    finally:
        await transport.aclose()
    assert statuses == [(403, "challenge"), (200, None)]
    (refused,) = cloudflare.state.refused_ja4
    captured = Fingerprint.from_dict(cloudflare_credential.fingerprint or {})
    assert refused is not None
    assert refused != captured.ja4
    assert describe_fingerprint(naive) == "not captured, chrome alone"


@pytest.mark.browser
@pytest.mark.anyio
async def test_concurrent_first_requests_share_one_session_and_one_ca_file(
    cloudflare_credential: Credential, rig_config: Config
) -> None:
    url = f"https://{HOST}/api/models"
    headers = request_headers(
        cloudflare_credential.headers,
        cookie=cookie_header(cloudflare_credential.cookies_for(url)),
    )
    transports = [
        Transport(rig_config.client, ca_bundle=rig_config.network.ca_bundle) for _ in range(2)
    ]
    statuses: list[int] = []

    async def one(transport: Transport) -> None:
        async with transport.request(cloudflare_credential, "GET", url, headers=headers) as reply:
            statuses.append(reply.status)

    try:
        async with anyio.create_task_group() as group:
            for transport in transports:
                for _ in range(10):
                    group.start_soon(one, transport)
    finally:
        for transport in transports:
            await transport.aclose()
    assert statuses == [200] * 20
    assert [t.sessions_made for t in transports] == [1, 1]
    # One merged CA file for both, named by its content: nothing for a killed client
    # to leave behind, nothing to remove on close (other rigs' CAs have their own).
    ca = rig_config.network.ca_bundle
    assert ca is not None
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "session-harvest"
    merged = [p for p in cache.glob("ca-*.pem") if p.read_bytes().endswith(ca.read_bytes())]
    assert len(merged) == 1
    assert not list(cache.glob(".ca-*"))  # no half-written file
