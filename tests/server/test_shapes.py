"""The API's shapes without a server: bodies checked into parameters, errors into
statuses and envelopes, chunks into SSE frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client import (
    CredentialRejected,
    NetworkError,
    NoCredential,
    ProviderError,
    RateLimited,
    ServerError,
    StreamBroken,
    StreamTimeout,
    TextDelta,
    UnknownModel,
    UnknownProvider,
    Usage,
)
from harvester import BrowserNotFound, HarvestTimeout, PageError
from harvester._api import (
    DONE,
    ApiError,
    error_for,
    parse_chat,
    parse_image,
    split_model,
    sse_frames,
)
from harvester._server import _Pieces
from storage import StoreUnavailable

CHAT = {"model": "freenetfly/gpt-4", "messages": [{"role": "user", "content": "Hi"}]}


def test_a_chat_body_becomes_messages_and_the_options_providers_read() -> None:
    params = parse_chat(
        {
            "model": "cloudflare/@cf/meta/llama-3.3-70b-instruct-fp8-fast",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": None},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 64,
            "temperature": 1,
            "top_p": 0.5,
            "seed": 3,
            "user": "someone",
            "presence_penalty": 0.2,  # accepted, honoured by no provider
        }
    )
    assert params.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": ""},
    ]
    assert params.stream
    assert params.include_usage
    assert params.options == {"max_tokens": 64, "temperature": 1.0, "top_p": 0.5, "seed": 3}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        pytest.param({"model": ""}, "model", id="empty-model"),
        pytest.param({"messages": [{"role": "user"}]}, "messages[0].content", id="no-content"),
        pytest.param({"messages": [1]}, "messages[0]", id="not-an-object"),
        pytest.param({"n": 2}, "n", id="two-choices"),
        pytest.param({"max_tokens": 0}, "max_tokens", id="no-tokens"),
        pytest.param({"max_tokens": True}, "max_tokens", id="bool-is-no-number"),
        pytest.param({"temperature": "hot"}, "temperature", id="temperature-string"),
        pytest.param({"top_p": 1.5}, "top_p", id="top-p-range"),
        pytest.param({"seed": 1.5}, "seed", id="seed-float"),
        pytest.param({"stream_options": {"include_usage": True}}, "stream_options", id="no-stream"),
        pytest.param({"user": 7}, "user", id="user-number"),
    ],
)
def test_a_bad_chat_body_names_its_field(change: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat({**CHAT, **change})
    error = caught.value
    assert error.status == 400
    assert error.param == param
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_an_image_body() -> None:
    params = parse_image(
        {"model": "g4f_space/flux", "prompt": "a fox", "size": "768x512", "seed": 9}
    )
    assert params.options == {"width": 768, "height": 512, "seed": 9}
    for change in ({"n": 2}, {"response_format": "b64_json"}, {"size": "big"}, {"prompt": ""}):
        with pytest.raises(ApiError):
            parse_image({"model": "g4f_space/flux", "prompt": "a fox", **change})


def test_model_ids_split_on_the_first_slash() -> None:
    assert split_model("cloudflare/@cf/meta/x", []) == ("cloudflare", "@cf/meta/x")
    assert split_model("flowgpt/gpt-4", []) == ("flowgpt", "gpt-4")
    for bad in ("gpt-4", "/x"):
        with pytest.raises(UnknownProvider):
            split_model(bad, ["cloudflare"])


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (UnknownProvider("x", ["cloudflare"]), 404, "model_not_found"),
        (UnknownModel("cloudflare", "x", ["llama"]), 404, "model_not_found"),
        (RateLimited("slow down", retry_after=2.5), 429, "rate_limit_exceeded"),
        (CredentialRejected("refused", status=403), 502, "credential_rejected"),
        (ServerError("503", status=503), 502, "provider_error"),
        (ProviderError("bad"), 502, "provider_error"),
        (NetworkError("refused"), 502, "network_error"),
        (StreamBroken("cut", delivered=3), 502, "stream_broken"),
        (StreamTimeout("slow", phase="first byte"), 504, "timeout"),
        (HarvestTimeout("never ready"), 504, "harvest_timeout"),
        (PageError("no token"), 502, "harvest_failed"),
        (BrowserNotFound("install chromium"), 503, "browser_not_found"),
        (NoCredential("none"), 503, "no_credential"),
        (StoreUnavailable("/db", "disk is full"), 503, "store_unavailable"),
    ],
)
def test_each_error_has_its_status_and_code(error: Exception, status: int, code: str) -> None:
    mapped = error_for(error)
    assert (mapped.status, mapped.code) == (status, code)
    assert mapped.message == str(error) or mapped.status == 404


def test_rate_limits_carry_retry_after_and_unknown_errors_say_nothing() -> None:
    assert error_for(RateLimited("x", retry_after=2.5)).headers == {"retry-after": "3"}
    assert error_for(RateLimited("x", retry_after=None)).headers == {}
    hidden = error_for(RuntimeError("token=s3cr3t in a bug"))
    assert hidden.status == 500
    assert "s3cr3t" not in json.dumps(hidden.body())


async def _events(*items: Any, fail: Exception | None = None) -> AsyncIterator[Any]:
    for item in items:
        yield item
    if fail is not None:
        raise fail


def _frames(raw: list[bytes]) -> list[Any]:
    assert all(f.startswith(b"data: ") and f.endswith(b"\n\n") for f in raw)
    return [f[6:-2].decode() if f == DONE else json.loads(f[6:-2]) for f in raw]


@pytest.mark.anyio
async def test_sse_frames_end_with_usage_and_done() -> None:
    events = _events(TextDelta("a"), Usage(2, 1))
    frames = _frames([f async for f in sse_frames(events, "p/m", include_usage=True)])
    assert frames[-1] == "[DONE]"
    assert frames[0]["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert frames[0]["usage"] is None
    assert frames[1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert frames[1]["id"] == frames[2]["id"] == frames[0]["id"]
    assert frames[2]["choices"] == []
    assert frames[2]["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}


@pytest.mark.anyio
async def test_an_error_before_the_first_frame_is_raised_after_it_is_a_frame() -> None:
    before = sse_frames(_events(fail=NetworkError("down")), "p/m", include_usage=False)
    with pytest.raises(NetworkError):
        await anext(before)
    after = _events(TextDelta("a"), fail=StreamBroken("cut", delivered=1))
    frames = _frames([f async for f in sse_frames(after, "p/m", include_usage=False)])
    assert frames[0]["choices"][0]["delta"]["content"] == "a"
    assert frames[1]["error"]["code"] == "stream_broken"
    assert frames[2] == "[DONE]"


@pytest.mark.anyio
async def test_pieces_ready_together_go_out_together_and_a_slow_reader_pauses_the_maker() -> None:
    made: list[int] = []
    release = asyncio.Event()

    async def maker() -> AsyncIterator[bytes]:
        yield b"first"
        await release.wait()
        for n in range(1000):  # all at once, no wait between them
            made.append(n)
            yield b"%d," % n

    pieces = _Pieces(maker())
    assert await pieces.first() == b"first"  # a lone piece goes alone, at once
    release.set()
    await asyncio.sleep(0.05)  # the reader is busy: the maker runs ahead, then waits
    assert len(made) == _Pieces._AHEAD
    batch = await pieces.next_batch()
    assert batch == b"".join(b"%d," % n for n in range(_Pieces._AHEAD))
    rest = b""
    while (more := await pieces.next_batch()) is not None:
        rest += more
    assert batch + rest == b"".join(b"%d," % n for n in range(1000))
    await pieces.aclose()


@pytest.mark.anyio
async def test_pieces_raise_an_error_before_the_first_and_close_the_maker() -> None:
    closed = []

    async def failing() -> AsyncIterator[bytes]:
        try:
            raise NetworkError("down")
            yield b""  # pragma: no cover - makes it a generator
        finally:
            closed.append(True)

    pieces = _Pieces(failing())
    with pytest.raises(NetworkError):
        await pieces.first()
    await pieces.aclose()
    assert closed == [True]
