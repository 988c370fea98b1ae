"""FreeNetfly: its SSE chunk parser and body, retries by its documented rule, and the
product end to end against the emulator (split records, odd records, rejections)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import anyio
import pytest

from client import (
    AsyncClient,
    ChatRequest,
    Config,
    Event,
    FinishReason,
    Message,
    ProviderConfig,
    ProviderError,
    RetryPolicy,
    ServerError,
    ServerSentEvent,
    StreamBroken,
    TextDelta,
    Usage,
)
from client.providers.freenetfly import ChunkParser, FreeNetflyProvider, chat_body
from harvester import Harvester
from storage import Credential, CredentialStore

from ..conftest import fast
from ..emulators.freenetfly import Fault, FreeNetflyEmulator, answer_text
from ..emulators.rig import Rig
from ._cli import ROOT, cli_env, run_cli

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Say hello"},
]


def expected(messages: list[dict[str, str]] = MESSAGES, model: str = "gpt-3.5-turbo") -> str:
    return "".join(answer_text({"model": model, "messages": messages}))


def quick(config: Config) -> Config:
    """``config`` with FreeNetfly's documented delays shrunk to milliseconds."""
    table = ProviderConfig(retry_backoff=0.01, retry_backoff_max=0.08)
    return dataclasses.replace(config, providers={"freenetfly": table})


# -- the parser and the body -----------------------------------------------------------


def chunk(content: object = None, finish: object = None, **extra: object) -> str:
    delta = {} if content is None else {"content": content}
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return json.dumps(body)


@pytest.mark.parametrize(
    ("records", "events", "warnings"),
    [
        pytest.param([chunk("Hel"), chunk("lo")], [TextDelta("Hel"), TextDelta("lo")], 0),
        pytest.param([chunk("")], [], 0, id="empty content"),
        pytest.param(
            [chunk(None, "stop", usage={"prompt_tokens": 3, "completion_tokens": 2})],
            [Usage(3, 2), FinishReason("stop")],
            0,
            id="finish and usage",
        ),
        pytest.param(["{not json", "[1]", '{"object": "x"}'], [], 3, id="skipped with a warning"),
        pytest.param(['{"choices": "no"}', chunk(42)], [], 2, id="unexpected shapes"),
        pytest.param(['{"choices": []}'], [], 0, id="no choices: nothing to say"),
    ],
)
def test_chunk_parser(
    records: list[str], events: list[Event], warnings: int, caplog: pytest.LogCaptureFixture
) -> None:
    parser = ChunkParser()
    with caplog.at_level(logging.WARNING, "client.freenetfly"):
        got = [e for r in records for e in parser.feed(ServerSentEvent(r))]
    assert got == events
    assert len(caplog.records) == warnings
    assert all(len(r.getMessage()) < 160 for r in caplog.records)  # shortened


def test_done_ends_and_other_event_types_are_ignored() -> None:
    parser = ChunkParser()
    assert parser.feed(ServerSentEvent(chunk("x"), "ping")) == []
    assert parser.feed(ServerSentEvent("[DONE]")) == []
    assert parser.done


def test_an_error_object_raises_the_services_message() -> None:
    with pytest.raises(ProviderError, match="reported an error: quota exceeded"):
        ChunkParser().feed(ServerSentEvent('{"error": {"message": "quota exceeded"}}'))


def test_the_body_and_the_documented_retry_rule() -> None:
    request = ChatRequest("gpt-4", tuple(Message(m["role"], m["content"]) for m in MESSAGES[:2]))
    assert chat_body(request) == {
        "messages": MESSAGES[:2],
        "stream": True,
        "model": "gpt-4",
        "temperature": 0.5,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_p": 1,
    }
    assert FreeNetflyProvider.documented_retry == RetryPolicy(4, 2.0, 16.0, jitter=False)
    assert FreeNetflyProvider().resolve_model(None) == "gpt-3.5-turbo"


# -- end to end ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.anyio
async def test_split_records_stream_the_exact_answer(
    stored: Config, freenetfly: FreeNetflyEmulator
) -> None:
    async with AsyncClient(stored) as client:
        events = [e async for e in client.stream("freenetfly", MESSAGES, model="gpt-4")]
        assert client.retry_policy("freenetfly") == FreeNetflyProvider.documented_retry
    text = "".join(e for e in events if isinstance(e, str))
    assert text == expected(model="gpt-4")
    pieces = len(answer_text({"model": "gpt-4", "messages": MESSAGES}))
    assert events[-2:] == [Usage(6, pieces), FinishReason("stop")]
    request = freenetfly.chat_requests()[-1]
    assert request.header("accept") == "application/json, text/event-stream"
    assert request.header("referer") == "https://free.netfly.top/"
    assert request.header("sec-fetch-site") == "same-origin"


@pytest.mark.browser
@pytest.mark.anyio
@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([Fault(status=503)] * 4, id="four 503s"),
        pytest.param([Fault(cut_after=0), Fault(cut_after=1)], id="cut before any text"),
        pytest.param([Fault(stall_after=1, stall=3)], id="silent before any text"),
    ],
)
async def test_failures_before_text_are_retried_without_repeating_it(
    stored: Config, freenetfly: FreeNetflyEmulator, faults: list[Fault]
) -> None:
    config = quick(
        dataclasses.replace(stored, client=dataclasses.replace(stored.client, idle_timeout=1.0))
    )
    for fault in faults:
        freenetfly.add_fault(fault)
    async with AsyncClient(config) as client:
        events = [e async for e in client.stream("freenetfly", MESSAGES)]
    assert "".join(e for e in events if isinstance(e, str)) == expected()
    assert len(freenetfly.chat_requests()) == len(faults) + 1


@pytest.mark.browser
@pytest.mark.anyio
async def test_five_attempts_then_the_error(stored: Config, freenetfly: FreeNetflyEmulator) -> None:
    for _ in range(6):
        freenetfly.add_fault(Fault(status=502))
    async with AsyncClient(quick(stored)) as client:
        with pytest.raises(ServerError, match="answered 502") as caught:
            _ = [e async for e in client.stream("freenetfly", MESSAGES)]
    assert caught.value.status == 502
    assert len(freenetfly.chat_requests()) == 5


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_cut_after_text_keeps_what_arrived_and_is_not_retried(
    stored: Config, freenetfly: FreeNetflyEmulator
) -> None:
    freenetfly.add_fault(Fault(cut_after=4))  # the role chunk and three texts
    received: list[Event] = []
    async with AsyncClient(quick(stored)) as client:

        async def drain() -> None:
            async for event in client.stream("freenetfly", MESSAGES):
                received.append(event)

        with pytest.raises(StreamBroken) as caught:
            await drain()
    assert caught.value.delivered == 3
    assert "".join(e for e in received if isinstance(e, str)) == "".join(
        answer_text({"model": "gpt-3.5-turbo", "messages": MESSAGES})[:3]
    )
    assert len(freenetfly.chat_requests()) == 1


@pytest.mark.browser
@pytest.mark.anyio
async def test_odd_records_are_skipped_and_an_error_record_raises(
    stored: Config, freenetfly: FreeNetflyEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    freenetfly.add_fault(Fault(malformed=True))
    freenetfly.add_fault(Fault(error="the upstream model is overloaded"))
    async with AsyncClient(stored) as client:
        with caplog.at_level(logging.WARNING, "client.freenetfly"):
            events = [e async for e in client.stream("freenetfly", MESSAGES)]
        with pytest.raises(ProviderError, match="reported an error: the upstream model"):
            _ = [e async for e in client.stream("freenetfly", MESSAGES)]
    assert "".join(e for e in events if isinstance(e, str)) == expected()
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 4  # not JSON, no choices, choices not a list, content not text
    assert any("{not json" in m for m in skipped)


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_refused_session_is_harvested_again_and_the_cli_streams(
    private_rig: Rig, chromium: str, tmp_path: Path
) -> None:
    config = fast(private_rig.config(tmp_path / "credentials.db", chromium))
    async with Harvester(config) as harvester, AsyncClient(config, refresher=harvester) as client:
        await harvester.refresh("freenetfly")
        private_rig.freenetfly.invalidate()
        events = [e async for e in client.stream("freenetfly", "count to 5")]
        attempts = await client.store.recent_attempts("freenetfly")
    assert "".join(e for e in events if isinstance(e, str)) == " 1 2 3 4 5"
    assert len(attempts) == 2

    env = cli_env(private_rig, tmp_path, chromium)
    code, out, err = await run_cli(["chat", "-p", "freenetfly", "-m", "gpt-4", "Say hello"], env)
    assert code == 0, err
    messages = [{"role": "user", "content": "Say hello"}]
    assert out == expected(messages, "gpt-4") + "\n"


# What a browser keeps of the hostile Set-Cookie headers below (RFC 6265bis section 5).
HOSTILE_COOKIES = (
    "absurd=1; Expires=Thu, 12-Aug-9999999999 20:49:07 GMT; Path=/",  # kept, a session cookie
    "suffix=2; Domain=netfly.top; Path=/",  # kept: a registrable domain
    "public=3; Domain=top; Path=/",  # ignored: a public suffix
    "other=4; Domain=example.com; Path=/",  # ignored: another site
    "tab=5;\tPath=/;\tSecure\t",  # kept: HTAB is whitespace (a CTL never passes HTTP/2)
    "big=" + "v" * 4100 + "; Path=/",  # ignored: name and value over 4096 bytes
    "nf_sid=; Max-Age=0; Path=/api/openai",  # deletes nothing: no such path
    "token-without-name; Path=/",  # kept: a name-less cookie
    "capped=6; Max-Age=99999999999999999999; Path=/",  # kept, expiry cut to 400 days
)


@pytest.mark.browser
@pytest.mark.anyio
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(set_cookie=HOSTILE_COOKIES), id="hostile Set-Cookie headers"),
        # The last chunk (usage, finish) unterminated and no [DONE]: only kept if the
        # provider keeps the event the standard decoder discards.
        pytest.param(Fault(newline="\r", bare_end=True), id="CR line ends, no last blank line"),
    ],
)
async def test_a_hostile_answer_still_streams_and_the_jar_is_a_browsers(
    stored: Config, freenetfly: FreeNetflyEmulator, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    freenetfly.add_fault(fault)
    async with AsyncClient(stored) as client:
        with caplog.at_level(logging.WARNING, "client"):
            events = [e async for e in client.stream("freenetfly", MESSAGES)]
        await client.view.flush()  # written back within write_back_interval: now
        credential = await client.store.get("freenetfly")
    assert "".join(e for e in events if isinstance(e, str)) == expected()
    pieces = len(answer_text({"model": "gpt-3.5-turbo", "messages": MESSAGES}))
    assert events[-2:] == [Usage(6, pieces), FinishReason("stop")]
    assert credential is not None
    jar = {c.name: c for c in credential.cookies}
    if not fault.set_cookie:
        return
    assert set(jar) == {"nf_sid", "absurd", "suffix", "tab", "", "capped"}
    assert jar["tab"].secure
    assert jar["tab"].path == "/"
    assert jar["absurd"].expires is None
    assert jar["absurd"].host_only
    assert (jar["suffix"].domain, jar["suffix"].host_only) == ("netfly.top", False)
    assert jar[""].value == "token-without-name"
    capped = jar["capped"].expires
    assert capped is not None
    assert capped - time.time() < 400 * 86400 + 60
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    for rule in ("public suffix", "does not cover", "over 4096 bytes"):
        assert rule in warnings
    assert "vvvv" not in warnings
    assert "token-without-name" not in warnings


@pytest.mark.browser
@pytest.mark.anyio
async def test_the_command_line_copes_with_its_terminal_and_odd_arguments(
    rig: Rig, chromium: str, tmp_path: Path, harvested: dict[str, Credential]
) -> None:
    env = cli_env(rig, tmp_path, chromium)
    async with CredentialStore.open(tmp_path / "credentials.db") as store:
        await store.put(harvested["freenetfly"])
    chat = [sys.executable, "-m", "harvester", "chat", "-p", "freenetfly", "--no-refresh"]
    # The reader goes away after one byte.
    line = " ".join(shlex.quote(a) for a in [*chat, "Say hello"]) + " | head -c1"
    done = await anyio.run_process(["bash", "-c", line], env=env, cwd=ROOT, check=False)
    assert done.stdout == b"N"
    assert b"Traceback" not in done.stderr
    # A terminal that takes ASCII only: the answer comes escaped, not as a crash.
    code, out, err = await run_cli(
        ["chat", "-p", "freenetfly", "--no-refresh", "Say hello"],
        {**env, "PYTHONIOENCODING": "ascii"},
    )
    assert code == 0, err
    assert "\\xdcn\\xefc\\xf6d\\xe9" in out  # Ünïcödé
    # Arguments that are no text, and profile names that are none.
    for bad in (
        ["chat", "-p", "freenetfly", os.fsdecode(b"caf\xe9")],
        ["chat", "-p", "freenetfly", "--system", os.fsdecode(b"\xff"), "hi"],
        ["chat", "-p", "freenetfly", "--profile", "", "hi"],
        ["chat", "-p", "freenetfly", "--profile", "a\tb", "hi"],
        ["refresh", "freenetfly", "--profile", "a\nb"],
    ):
        code, out, err = await run_cli(bad, env)
        assert code == 2, (bad, err)
        assert "Traceback" not in err
        assert "UTF-8" in err or "not a profile name" in err
