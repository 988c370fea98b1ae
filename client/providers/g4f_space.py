"""The G4F space on Hugging Face (PROVIDERS.md section 4): images (and Janus text)
from ZeroGPU spaces, with progress as status lines.

The ZeroGPU token is harvested like a cookie: read from the space page's props (or,
when the store holds a logged-in ``token`` cookie, from the Hub's JWT endpoint, which
wins); it lives about ten minutes, which sets the credential's expiry. Routing by
model: ``flux``/``flux-dev`` through the FLUX.1-dev Gradio queue, other ``flux*``
models through the direct Flux endpoint, the rest through the Janus queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import string
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fingerprint import Call

from .._errors import ProviderError, shorten
from .._events import Event, ImageResponse, Reasoning, TextDelta
from .._provider import ChatRequest, Provider
from .._recipe import HarvestRecipe, Ready, Token
from .._session import ProviderSession

__all__ = ["G4FSpaceProvider", "QueueParser", "image_size", "strip_html"]

logger = logging.getLogger("client.g4f_space")

_HUB = "https://huggingface.co"
_SPACE = "roxky/g4f-space"
_FLUX = "https://roxky-g4f-flux.hf.space"
_FLUX_DEV = "https://roxky-flux-1-dev.hf.space"
_JANUS = "https://roxky-janus-pro-7b.hf.space"
# How often the direct endpoint's wait is reported.
_TICK = 0.2
# The page's calls: a JSON POST that joins the queue (or runs a job) with the ZeroGPU
# headers, and the GET of the queue's event stream, whose Accept the script sets.
_ZEROGPU = ("x-zerogpu-token", "x-zerogpu-uuid")
_JOIN = Call("POST", "application/json", _ZEROGPU)
_EVENTS = Call("GET", None, ("accept", *_ZEROGPU))
_SEED_RANGE = (9999, 2**32 - 1)
# The Hub's JWT endpoint, asked from the page so a logged-in cookie goes with it.
_JWT_JS = (
    "(async () => {"
    " const expiration = new Date(Date.now() + 600000).toISOString();"
    f' const url = "/api/spaces/{_SPACE}/jwt?expiration=" + encodeURIComponent(expiration)'
    ' + "&include_pro_status=true";'
    ' const response = await fetch(url, {credentials: "include"});'
    ' if (!response.ok) return "";'
    " const data = await response.json();"
    ' return typeof data.token === "string" ? data.token : "";'
    "})()"
)


class G4FSpaceProvider(Provider):
    name = "g4f_space"
    calls = (_JOIN, _EVENTS)
    label = "G4F space on Hugging Face"
    url = _HUB
    recipe = HarvestRecipe(
        start_url=f"{_HUB}/spaces/{_SPACE}",
        ready=Ready(request=rf"/api/spaces/{_SPACE}$"),
        capture=rf"/api/spaces/{_SPACE}$",
        tokens=(
            Token("token", regex=r"&quot;token&quot;:\s*&quot;([^&]+)&quot;"),
            Token("sessionUuid", regex=r"&quot;sessionUuid&quot;:\s*&quot;([^&]+)&quot;"),
            Token("jwt", js=_JWT_JS, required=False),
        ),
        lifetime=600.0,
        expiry_token="token",
        keep_cookies=("token",),  # a Hugging Face login the user stored
    )
    default_model = "flux"
    models = ("flux", "flux-dev", "flux-schnell", "janus-pro-7b", "janus-pro-7b-image")
    supports_system_message = False
    supports_message_history = False
    rejection_markers = ("ZeroGPU token",)

    def service_error(self, status: int, body: str) -> str | None:
        if status in (502, 503, 504):
            return None  # a gateway's answer, whatever its body: worth another try
        try:
            data = json.loads(body)
        except ValueError:
            return None
        error = data.get("error") if isinstance(data, dict) else None
        return f"the space reported: {strip_html(error)}" if isinstance(error, str) else None

    async def stream(self, session: ProviderSession, request: ChatRequest) -> AsyncIterator[Event]:
        options = request.options
        prompt = str(options.get("prompt") or request.last_user)
        seed = options.get("seed")
        seed = int(seed) if seed is not None else random.randint(*_SEED_RANGE)
        width, height = image_size(options.get("width", 1024), options.get("height", 1024))
        model = request.model
        if model in ("flux", "flux-dev"):
            data = [prompt, seed, options.get("seed") is None, width, height, 3.5, 28]
            events = self._queue(session, _FLUX_DEV, 2, 4, data, prompt)
        elif "flux" in model:
            events = self._direct(session, prompt, seed, width, height)
        elif model.endswith("-image"):
            events = self._queue(session, _JANUS, 3, None, [prompt, seed, 5, 1], prompt)
        else:
            data = [None, prompt, seed, 0.95, 0.1]
            events = self._queue(session, _JANUS, 2, None, data, prompt)
        async for event in events:
            yield event

    async def _direct(
        self, session: ProviderSession, prompt: str, seed: int, width: int, height: int
    ) -> AsyncIterator[Event]:
        yield Reasoning("Acquiring GPU Token")
        headers = [*_zerogpu(session.tokens), *_space_headers(_FLUX), *_post(_FLUX)]
        body = {
            "data": [prompt, seed, width, height, True, 1],
            "event_data": None,
            "fn_index": 3,
            "session_hash": _session_hash(),
            "trigger_id": 10,
        }
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The endpoint answers only when the image is done: report the wait meanwhile.
        task = asyncio.ensure_future(
            session.fetch_json(
                "POST", f"{_FLUX}/run/predict", json_body=body, headers=headers, call=_JOIN
            )
        )
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=_TICK)
                if not task.done():
                    yield Reasoning(f"Generating {loop.time() - started:.2f}s")
            answer = task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        try:
            url = answer["data"][0]["url"]
        except (KeyError, IndexError, TypeError):
            raise ProviderError(
                f"g4f_space: /run/predict answered no image: {shorten(json.dumps(answer))}"
            ) from None
        yield ImageResponse((str(url),), alt=prompt)
        yield Reasoning(f"Finished {loop.time() - started:.2f}s")

    async def _queue(
        self,
        session: ProviderSession,
        space: str,
        fn_index: int,
        trigger_id: int | None,
        data: list[Any],
        prompt: str,
    ) -> AsyncIterator[Event]:
        session_hash = uuid.uuid4().hex
        body: dict[str, Any] = {
            "data": data,
            "event_data": None,
            "fn_index": fn_index,
            "session_hash": session_hash,
        }
        if trigger_id is not None:
            body["trigger_id"] = trigger_id
        headers = [*_zerogpu(session.tokens), *_space_headers(space)]
        joined = await session.fetch_json(
            "POST",
            f"{space}/gradio_api/queue/join?__theme=light",
            json_body=body,
            headers=[*headers, *_post(space)],
            call=_JOIN,
        )
        if not isinstance(joined, dict) or "event_id" not in joined:
            raise ProviderError(
                f"g4f_space: the queue did not take the job: {shorten(str(joined))}"
            )
        parser = QueueParser(prompt)
        async with session.request(
            "GET",
            f"{space}/gradio_api/queue/data?session_hash={session_hash}",
            headers=[*headers, ("accept", "text/event-stream")],
            call=_EVENTS,
        ) as reply:
            async for message in session.events(reply):
                for event in parser.feed(message.data):
                    yield event
                if parser.done:
                    return
        raise ProviderError("g4f_space: the queue stream ended without a result")


class QueueParser:
    """Gradio queue messages (the ``data`` of each SSE event) to events.

    ``log`` and ``progress`` become status lines; ``process_completed`` gives the
    result (images or text) or raises the space's error; ``heartbeat``, estimations and
    previews carry nothing to report. Undecodable messages are skipped with a warning.
    """

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.done = False

    def feed(self, data: str) -> list[Event]:
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning("g4f_space: skipped an undecodable message: %s", shorten(data, 80))
            return []
        if not isinstance(message, dict):
            logger.warning(
                "g4f_space: skipped a message that is not an object: %s", shorten(data, 80)
            )
            return []
        kind = message.get("msg")
        if kind == "log" and message.get("log"):
            return [Reasoning(str(message["log"]))]
        if kind == "progress":
            return _progress(message.get("progress_data"))
        if kind == "process_completed":
            self.done = True
            output = message.get("output")
            output = output if isinstance(output, Mapping) else {}
            if output.get("error") or message.get("success") is False:
                error = strip_html(str(output.get("error") or "the job failed"))
                raise ProviderError(f"g4f_space: the space reported: {error}")
            return self._result(output.get("data"))
        return []

    def _result(self, data: Any) -> list[Event]:
        first = data[0] if isinstance(data, list) and data else None
        if isinstance(first, str):
            return [TextDelta(first)] if first else []
        images = first if isinstance(first, list) else [first]
        urls = tuple(url for item in images if (url := _url(item)))
        if not urls:
            raise ProviderError(f"g4f_space: the space gave no result: {shorten(str(data))}")
        return [ImageResponse(urls, alt=self.prompt)]


def image_size(width: Any, height: Any) -> tuple[int, int]:
    """Width and height rounded down to a multiple of 8, at least 32."""

    def rounded(value: Any) -> int:
        number = int(value)
        return max(32, number - number % 8)

    return rounded(width), rounded(height)


def strip_html(message: str) -> str:
    """A space's error as plain text: tags removed, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]*>", "", message).split())


def _url(item: Any) -> str | None:
    if isinstance(item, Mapping):
        if isinstance(item.get("url"), str):
            return str(item["url"])
        return _url(item.get("image"))  # a gallery item: {"image": {"url": ...}}
    return None


def _progress(data: Any) -> list[Event]:
    step = data[0] if isinstance(data, list) and data else None
    if not isinstance(step, Mapping) or step.get("index") is None:
        return []
    desc = step.get("desc") or "Progress"
    length = step.get("length")
    return [Reasoning(f"{desc} {step['index']}/{length}" if length else f"{desc} {step['index']}")]


def _zerogpu(tokens: Mapping[str, str]) -> list[tuple[str, str]]:
    # A token from the Hub's JWT endpoint (a logged-in user) wins over the page's.
    token = tokens.get("jwt") or tokens.get("token", "")
    return [("x-zerogpu-token", token), ("x-zerogpu-uuid", tokens.get("sessionUuid", ""))]


def _space_headers(space: str) -> list[tuple[str, str]]:
    """A same-origin fetch's headers from the space's page. Origin is a POST's alone
    (``_post``): Chromium sends none on a same-origin GET."""
    return [
        ("accept", "*/*"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
        ("referer", f"{space}/"),
    ]


def _session_hash() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=10))


def _post(space: str) -> list[tuple[str, str]]:
    return [("content-type", "application/json"), ("origin", space)]
