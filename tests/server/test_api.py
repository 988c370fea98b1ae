"""``harvest serve`` driven by the official OpenAI SDK and by raw HTTP, against the
emulators through the CONNECT proxy, with credentials its own daemon role harvested
with real Chromium. The tests share one server (in file order: the last one reads
everything the server printed)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

from client.providers import provider_class, provider_names
from storage import CredentialStore

from ..emulators import cloudflare as cloudflare_site
from ..emulators import flowgpt as flowgpt_site
from ..emulators import freenetfly as freenetfly_site
from ..emulators._base import Fault
from ..emulators.g4f_space import FLUX_DEV_HOST, image_url, janus_text
from ..emulators.rig import Rig
from ..providers.test_all import secrets_in
from ._server import ServerProcess, sse_data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALL = provider_names()


def _cloudflare(rig: Rig, prompt: str) -> str:
    return "".join(cloudflare_site.answer_text(rig.cloudflare.inference_requests()[-1].json()))


def _flowgpt(rig: Rig, prompt: str) -> str:
    return "".join(flowgpt_site.answer_text(rig.flowgpt.chat_requests()[-1].json()))


def _freenetfly(rig: Rig, prompt: str) -> str:
    return "".join(freenetfly_site.answer_text(rig.freenetfly.chat_requests()[-1].json()))


def _janus(rig: Rig, prompt: str) -> str:
    return janus_text(prompt, None)


# model id, what the site answered (from the request it received), usage reported
CHATS = [
    pytest.param("cloudflare/llama-3.3-70b", _cloudflare, True, id="cloudflare"),
    pytest.param("flowgpt/gpt-3.5-turbo", _flowgpt, False, id="flowgpt"),
    pytest.param("freenetfly/gpt-4", _freenetfly, True, id="freenetfly"),
    pytest.param("g4f_space/janus-pro-7b", _janus, False, id="g4f_space"),
]
Expect = Callable[[Rig, str], str]


@pytest.mark.parametrize(("model", "expected", "_usage"), CHATS)
def test_a_chat_of_each_provider_in_one_answer(
    sdk: openai.OpenAI, rig: Rig, model: str, expected: Expect, _usage: bool
) -> None:
    prompt = f"Hello {model}, ünïcödé"
    answer = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}]
    )
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model.startswith(model.split("/")[0] + "/")
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == expected(rig, prompt)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None


@pytest.mark.parametrize(("model", "expected", "usage"), CHATS)
def test_a_streamed_chat_of_each_provider(
    sdk: openai.OpenAI, rig: Rig, model: str, expected: Expect, usage: bool
) -> None:
    prompt = f"Stream it, {model}"
    chunks = list(
        sdk.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": prompt},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    with_choices = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text == expected(rig, prompt)
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert not [c for c in with_choices[1:] if c.choices[0].delta.role]
    finishes = [c.choices[0].finish_reason for c in with_choices]
    assert finishes[-1] == "stop"
    assert not any(finishes[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.completion_tokens > 0) is usage
    assert len({c.id for c in chunks}) == 1


def test_a_stream_without_include_usage_has_no_usage(sdk: openai.OpenAI) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="freenetfly/gpt-3.5-turbo",
            messages=[{"role": "user", "content": "count to 3"}],
            stream=True,
        )
    )
    assert [c.choices[0].delta.content for c in chunks] == [" 1", " 2", " 3", None]
    assert all(c.usage is None for c in chunks)


def test_cloudflare_ids_with_slashes_and_aliases_both_work(sdk: openai.OpenAI, rig: Rig) -> None:
    for model in ("cloudflare/@cf/meta/llama-3.1-8b-instruct-fp8", "cloudflare/llama-3.1-8b"):
        answer = sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
        )
        assert "(@cf/meta/llama-3.1-8b-instruct-fp8)" in (answer.choices[0].message.content or "")
        sent = rig.cloudflare.inference_requests()[-1].json()
        assert sent["model"] == "@cf/meta/llama-3.1-8b-instruct-fp8"


def test_models_lists_every_provider_and_the_live_only_model(sdk: openai.OpenAI) -> None:
    listed = {m.id: m for m in sdk.models.list()}
    for name in ALL:
        adapter = provider_class(name)
        for model in [*adapter.models, *adapter.aliases]:
            assert listed[f"{name}/{model}"].owned_by == name
    # Only the site's /api/models knows it: it is listed because a credential exists.
    live = "cloudflare/@cf/mistral/mistral-7b-instruct-v0.2-lora"
    assert live in listed
    assert listed[live].object == "model"
    assert sdk.models.retrieve("cloudflare/llama-3.3-70b").id == "cloudflare/llama-3.3-70b"
    assert sdk.models.retrieve(live).owned_by == "cloudflare"
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("cloudflare/no-such-model")
    assert caught.value.code == "model_not_found"


def test_a_live_only_model_chats(sdk: openai.OpenAI) -> None:
    model = "cloudflare/@cf/mistral/mistral-7b-instruct-v0.2-lora"
    answer = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}])
    assert "(@cf/mistral/mistral-7b-instruct-v0.2-lora)" in (
        answer.choices[0].message.content or ""
    )


def test_an_image_through_the_space(sdk: openai.OpenAI, rig: Rig) -> None:
    prompt = "a red fox in the snow"
    result = sdk.images.generate(
        model="g4f_space/flux",
        prompt=prompt,
        size="512x512",  # type: ignore[arg-type]  # the SDK lists OpenAI's sizes only
        response_format="url",
        extra_body={"seed": 7},
    )
    assert result.data is not None
    assert [(d.url, d.revised_prompt) for d in result.data] == [
        (image_url(FLUX_DEV_HOST, prompt, 7), prompt)
    ]
    job = rig.g4f_space.space_requests(FLUX_DEV_HOST)[-2].json()  # the join, then its data
    assert job["data"][:5] == [prompt, 7, False, 512, 512]


def test_an_image_model_in_a_chat_answers_markdown(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model="g4f_space/flux",
        messages=[{"role": "user", "content": "a cat"}],
        seed=11,
    )
    message = answer.choices[0].message
    assert message.content == f"![a cat]({image_url(FLUX_DEV_HOST, 'a cat', 11)})"
    # The space's progress lines travel as reasoning, apart from the answer.
    assert "Denoising" in (message.model_extra or {}).get("reasoning_content", "")


def test_unknown_provider_and_model_are_404_listing_the_valid_ids(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(
            model="cloudflare/gpt-9", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_found"
    assert "cloudflare/llama-3.3-70b" in caught.value.message
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="nope/x", messages=[{"role": "user", "content": "x"}])
    assert "freenetfly/MODEL" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])


def test_a_malformed_body_is_a_bad_request(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="freenetfly/gpt-4", messages=[])
    assert caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="freenetfly/gpt-4", messages=[{"role": "user", "content": "x"}], temperature=7
        )
    assert caught.value.param == "temperature"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        pytest.param(b"{", 400, None, id="not-json"),
        pytest.param(b"[]", 400, None, id="not-an-object"),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model", id="no-model"
        ),
        pytest.param(
            b'{"model": "freenetfly/gpt-4", "messages": "hi"}',
            400,
            "messages",
            id="messages-string",
        ),
        pytest.param(
            b'{"model": "freenetfly/gpt-4", "stream": "yes", "messages": [{"role": "user", '
            b'"content": "x"}]}',
            400,
            "stream",
            id="stream-not-bool",
        ),
        pytest.param(
            b'{"model": "freenetfly/gpt-4", "messages": [{"role": "tool", "content": "x"}]}',
            400,
            "messages[0].role",
            id="tool-role",
        ),
        pytest.param(
            b'{"model": "freenetfly/gpt-4", "messages": [{"role": "user", "content": '
            b'[{"type": "image_url", "image_url": {"url": "x"}}]}]}',
            400,
            "messages[0].content[0]",
            id="image-part",
        ),
        pytest.param(
            b'{"model": "freenetfly/gpt-4", "x": "' + b"a" * (5 << 20) + b'"}',
            413,
            None,
            id="too-large",
        ),
    ],
)
def test_every_refused_body_gets_an_openai_envelope(
    served: ServerProcess, body: bytes, status: int, param: str | None
) -> None:
    got, headers, raw = served.request(
        "POST", "/v1/chat/completions", body, {"content-type": "application/json"}
    )
    assert got == status
    assert headers["content-type"] == "application/json"
    error = json.loads(raw)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert error["param"] == param
    assert "detail" not in json.loads(raw)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nothing", 404),
        ("GET", "/v1/chat/completions", 405),
        ("DELETE", "/v1/models", 405),
    ],
)
def test_unknown_routes_and_methods_are_openai_shaped(
    served: ServerProcess, method: str, path: str, status: int
) -> None:
    got, headers, raw = served.request(method, path)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert set(json.loads(raw)["error"]) == {"message", "type", "param", "code"}


def test_a_provider_429_is_a_rate_limit_with_its_retry_after(
    sdk: openai.OpenAI, served: ServerProcess, freenetfly: Any
) -> None:
    freenetfly.add_fault(Fault(status=429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(
            model="freenetfly/gpt-4", messages=[{"role": "user", "content": "x"}], stream=True
        )
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    # The profile rests 7 s for every process: the next call waits for it...
    with pytest.raises(openai.RateLimitError, match="every profile is resting"):
        sdk.chat.completions.create(
            model="freenetfly/gpt-4", messages=[{"role": "user", "content": "x"}]
        )
    # ...unless someone ends the rest (another process, through the store).
    anyio.run(end_rest, served)
    time.sleep(0.1)  # past the server view's documented delay (25 ms)
    done = sdk.chat.completions.create(
        model="freenetfly/gpt-4", messages=[{"role": "user", "content": "count to 2"}]
    )
    assert done.choices[0].message.content


async def end_rest(served: ServerProcess) -> None:
    database = Path(served.env["HARVEST_CONFIG"]).parent / "credentials.db"
    async with CredentialStore.open(database) as store:
        assert await store.end_cooldown("freenetfly", "default")


def test_a_cut_after_text_keeps_the_text_and_raises_apierror(
    sdk: openai.OpenAI, served: ServerProcess, freenetfly: Any
) -> None:
    freenetfly.add_fault(Fault(cut_after=4))  # the role chunk, then " 1", " 2", " 3"
    received = []
    stream = sdk.chat.completions.create(
        model="freenetfly/gpt-4",
        messages=[{"role": "user", "content": "count to 9"}],
        stream=True,
    )
    with pytest.raises(openai.APIError) as caught:  # noqa: PT012 - it comes mid-iteration
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == [" 1", " 2", " 3"]
    assert "stream broke" in caught.value.message
    # The same on the wire: an error frame after the text, then [DONE].
    freenetfly.add_fault(Fault(cut_after=2))
    body = {
        "model": "freenetfly/gpt-4",
        "stream": True,
        "messages": [{"role": "user", "content": "count to 9"}],
    }
    status, _, raw = served.request("POST", "/v1/chat/completions", body)
    frames = list(sse_data(raw))
    assert status == 200
    assert frames[-1] == "[DONE]"
    assert json.loads(frames[0])["choices"][0]["delta"] == {"role": "assistant", "content": " 1"}
    error = json.loads(frames[-2])["error"]
    assert error["code"] == "stream_broken"
    assert set(error) == {"message", "type", "param", "code"}


def test_the_raw_stream_is_sse_with_the_openai_rules(served: ServerProcess) -> None:
    body = {
        "model": "cloudflare/llama-3.3-70b",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "count to 5"}],
    }
    status, headers, raw = served.request(
        "POST", "/v1/chat/completions", body, {"accept-encoding": "gzip, br"}
    )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in headers
    assert "content-length" not in headers
    frames = list(sse_data(raw))
    assert frames[-1] == "[DONE]"
    assert frames.count("[DONE]") == 1
    chunks = [json.loads(f) for f in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    with_choices = [c for c in chunks if c["choices"]]
    assert [c["choices"][0]["finish_reason"] for c in with_choices] == [None] * 5 + ["stop"]
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in with_choices) == " 1 2 3 4 5"
    )
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_a_client_that_goes_away_cancels_the_upstream(
    served: ServerProcess, cloudflare: Any
) -> None:
    cloudflare.state.chunk_delay = 0.05  # a long answer: minutes at this pace
    finished = cloudflare.state.streams_finished
    body = {
        "model": "cloudflare/llama-3.3-70b",
        "stream": True,
        "messages": [{"role": "user", "content": "count to 2000"}],
    }
    connection, response = served.stream(body)
    assert response.status == 200
    while b'"content"' not in response.readline():
        pass  # until the first text has arrived
    connection.close()  # the caller goes away mid-answer
    deadline = time.monotonic() + 20
    while cloudflare.state.abandoned < 1:
        assert time.monotonic() < deadline, "the upstream transfer went on"
        time.sleep(0.05)
    assert cloudflare.state.streams_finished == finished
    metrics = _metrics(served)
    deadline = time.monotonic() + 10
    while _sample(metrics, "harvest_streams_in_flight") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        metrics = _metrics(served)
    cancelled = _sample(
        metrics,
        "harvest_chat_requests_total",
        provider="cloudflare",
        model="@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        outcome="cancelled",
    )
    assert cancelled == 1


def test_health_readiness_and_metrics(served: ServerProcess) -> None:
    status, _, body = served.request("GET", "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    status, _, body = served.request("GET", "/readyz")
    ready = json.loads(body)
    assert status == 200
    assert ready["status"] == "ready"
    assert sorted(ready["providers"]) == ALL
    for entry in ready["providers"].values():
        assert entry["fresh"] is True
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["expires_at"])
        assert 0 < entry["expires_in"] <= 3600
    metrics = _metrics(served)
    for name in ALL:
        assert _sample(metrics, "harvest_harvests_total", provider=name, result="ok") >= 1
        assert _sample(metrics, "harvest_fresh_credentials", provider=name) == 1
        assert 0 < _sample(metrics, "harvest_earliest_expiry_seconds", provider=name) <= 3600
    assert (
        _sample(
            metrics, "harvest_harvest_duration_seconds_bucket", provider="cloudflare", le="120.0"
        )
        >= 1
    )
    assert (
        _sample(metrics, "harvest_harvest_duration_seconds_bucket", provider="cloudflare", le="0.5")
        is not None
    )
    model = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    assert (
        _sample(
            metrics, "harvest_chat_requests_total", provider="cloudflare", model=model, outcome="ok"
        )
        >= 2
    )
    assert (
        _sample(
            metrics,
            "harvest_chat_requests_total",
            provider="freenetfly",
            model="gpt-4",
            outcome="rate_limit_exceeded",
        )
        >= 1
    )
    assert _sample(metrics, "harvest_time_to_first_token_seconds_count", provider="flowgpt") >= 2
    assert _sample(metrics, "harvest_streams_in_flight") == 0
    labels = set(re.findall(r'(\w+)="', metrics))
    assert labels <= {"provider", "model", "outcome", "result", "le"}


@pytest.mark.anyio
async def test_nothing_secret_in_the_output_or_the_metrics(served: ServerProcess) -> None:
    # Runs last: the server has harvested, chatted (rotating cookies), failed and cut.
    database = Path(served.env["HARVEST_CONFIG"]).parent / "credentials.db"
    secrets = await secrets_in(database)
    assert len(secrets) >= 6
    metrics = _metrics(served)
    leaked = [s[:6] for s in secrets if s in served.output or s in metrics]
    assert not leaked
    assert "harvested cloudflare/default" in served.output


def _metrics(served: ServerProcess) -> str:
    status, headers, body = served.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    return body.decode()


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of the series ``name`` with exactly ``labels``."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if found == labels:
            return float(match[3])
    return None
