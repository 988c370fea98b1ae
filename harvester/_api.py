"""The OpenAI HTTP API's shapes, without a web framework: request bodies checked into
typed parameters, errors into OpenAI's envelope with a real status, chunks into
Server-Sent Events. ``_server`` puts them on the wire.

Error envelope: ``{"error": {"message", "type", "param", "code"}}``, as OpenAI sends
it, so every OpenAI client raises its own typed error for it.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from client import (
    ChatCompletion,
    ClientError,
    CredentialRejected,
    Deltas,
    Event,
    NetworkError,
    NoCredential,
    ProviderError,
    RateLimited,
    StreamBroken,
    StreamTimeout,
    UnknownModel,
    UnknownProvider,
)
from storage import StorageError

from ._errors import BrowserNotFound, HarvestError, HarvestTimeout

__all__ = [
    "DONE",
    "ApiError",
    "ChatParams",
    "ImageParams",
    "completion_json",
    "error_for",
    "parse_chat",
    "parse_image",
    "parse_json",
    "split_model",
    "sse_frames",
]

DONE = b"data: [DONE]\n\n"
# Roles a provider's messages take; OpenAI's newer "developer" is its system role.
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_SIZE = re.compile(r"([1-9][0-9]{1,4})x([1-9][0-9]{1,4})")


@dataclass
class ApiError(Exception):
    """An answer other than 200: ``status`` and OpenAI's error fields."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", "invalid_request_error", param)


def error_for(exc: BaseException) -> ApiError:
    """The status and envelope for an error a chat or harvest raised. Every message
    here is one the client or harvester wrote to be shown: it holds no secret."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UnknownProvider | UnknownModel):
        return ApiError(404, _not_found(exc), "invalid_request_error", "model_not_found", "model")
    if isinstance(exc, RateLimited):
        headers = {}
        if exc.retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(exc.retry_after)))
        return ApiError(429, str(exc), "rate_limit_error", "rate_limit_exceeded", headers=headers)
    for kind, status, type_, code in _STATUSES:
        if isinstance(exc, kind):
            return ApiError(status, str(exc), type_, code)
    # Not ours to describe (a bug): the log has it, the caller gets no internals.
    return ApiError(500, "internal error; the server's log has the details", "server_error")


# The first entry an error is an instance of gives its answer (subclasses first).
_STATUSES: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (CredentialRejected, 502, "upstream_error", "credential_rejected"),
    (ProviderError, 502, "upstream_error", "provider_error"),
    (NetworkError, 502, "upstream_error", "network_error"),
    (StreamBroken, 502, "upstream_error", "stream_broken"),
    (StreamTimeout, 504, "upstream_error", "timeout"),
    (HarvestTimeout, 504, "upstream_error", "harvest_timeout"),
    (BrowserNotFound, 503, "server_error", "browser_not_found"),
    (HarvestError, 502, "upstream_error", "harvest_failed"),
    (NoCredential, 503, "server_error", "no_credential"),
    (StorageError, 503, "server_error", "store_unavailable"),
    (ClientError, 502, "upstream_error", "provider_error"),
)


def _not_found(exc: UnknownProvider | UnknownModel) -> str:
    if isinstance(exc, UnknownModel):
        valid = ", ".join(f"{exc.provider}/{name}" for name in exc.valid) or "none"
        return f"{exc.provider} has no model {exc.model!r}; valid ids: {valid}"
    valid = ", ".join(f"{name}/MODEL" for name in exc.valid) or "none"
    return f"unknown provider {exc.name!r}; model ids are PROVIDER/MODEL, valid: {valid}"


def split_model(model: str, providers: list[str]) -> tuple[str, str]:
    """``PROVIDER/MODEL`` split on the first slash (Cloudflare's ids hold slashes)."""
    provider, slash, name = model.partition("/")
    if not slash or not provider:
        raise UnknownProvider(model, providers)
    return provider, name


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise bad_request(
            "the request body is not valid JSON; send a JSON object with "
            "Content-Type: application/json"
        ) from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    return data


@dataclass(frozen=True)
class ChatParams:
    """A checked ``POST /v1/chat/completions`` body."""

    model: str
    messages: list[dict[str, str]]
    stream: bool = False
    include_usage: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def parse_chat(data: Mapping[str, Any]) -> ChatParams:
    """Check a chat body; ``ApiError`` 400 names the field. Fields a provider cannot
    honour are accepted and left out (the README lists them per provider)."""
    model = _required_string(data, "model")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list of messages", "messages")
    checked = [_message(item, f"messages[{n}]") for n, item in enumerate(messages)]
    stream = _optional(data, "stream", bool, "a boolean") or False
    stream_options = _optional(data, "stream_options", dict, "an object") or {}
    include_usage = _optional(stream_options, "include_usage", bool, "a boolean") or False
    if stream_options and not stream:
        raise bad_request("stream_options is only allowed with stream: true", "stream_options")
    n = _optional(data, "n", int, "an integer")
    if n not in (None, 1):
        raise bad_request("n must be 1: providers answer one choice", "n")
    options: dict[str, Any] = {}
    limit = _optional(data, "max_completion_tokens", int, "an integer")
    limit = _optional(data, "max_tokens", int, "an integer") if limit is None else limit
    if limit is not None:
        if limit < 1:
            raise bad_request("max_tokens must be at least 1", "max_tokens")
        options["max_tokens"] = limit
    for name, low, high in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        value = _optional(data, name, float, "a number")
        if value is not None:
            if not low <= value <= high:
                raise bad_request(f"{name} must be from {low:g} to {high:g}", name)
            options[name] = value
    seed = _optional(data, "seed", int, "an integer")
    if seed is not None:
        options["seed"] = seed
    _optional(data, "user", str, "a string")  # accepted; no provider takes it
    return ChatParams(model, checked, stream, include_usage, options)


def _message(item: Any, where: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise bad_request(f"{where} must be an object with role and content", where)
    role = item.get("role")
    if role not in _ROLES:
        raise bad_request(
            f"{where}.role must be one of {', '.join(_ROLES)} (tools are not supported)",
            f"{where}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for n, part in enumerate(content):
            here = f"{where}.content[{n}]"
            if not isinstance(part, dict) or part.get("type") != "text":
                raise bad_request(f"{here} must be a text part: providers take text only", here)
            if not isinstance(part.get("text"), str):
                raise bad_request(f"{here}.text must be a string", f"{here}.text")
            parts.append(part["text"])
        text = "".join(parts)
    elif content is None and role == "assistant":
        text = ""
    else:
        raise bad_request(
            f"{where}.content must be a string or a list of text parts", f"{where}.content"
        )
    return {"role": _ROLES[role], "content": text}


@dataclass(frozen=True)
class ImageParams:
    """A checked ``POST /v1/images/generations`` body."""

    model: str
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_image(data: Mapping[str, Any]) -> ImageParams:
    model = _required_string(data, "model", example="g4f_space/flux")
    prompt = _required_string(data, "prompt")
    n = _optional(data, "n", int, "an integer")
    if n not in (None, 1):
        raise bad_request("n must be 1: the image providers make one image per call", "n")
    response_format = _optional(data, "response_format", str, "a string")
    if response_format not in (None, "url"):
        raise bad_request("response_format must be url: images are served by their site")
    options: dict[str, Any] = {}
    size = _optional(data, "size", str, 'a size such as "1024x1024"')
    if size is not None:
        match = _SIZE.fullmatch(size)
        if match is None:
            raise bad_request('size must be WIDTHxHEIGHT, such as "1024x1024"', "size")
        options["width"], options["height"] = int(match[1]), int(match[2])
    seed = _optional(data, "seed", int, "an integer")
    if seed is not None:
        options["seed"] = seed
    return ImageParams(model, prompt, options)


def _required_string(data: Mapping[str, Any], name: str, *, example: str = "") -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        hint = f" such as {example!r}" if example else ""
        raise bad_request(f"{name} is required: a non-empty string{hint}", name)
    return value


def _optional(data: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name)
    if value is None:
        return None
    # JSON has one number type: 1 is a valid temperature; true is not a number.
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok or (kind is float and not math.isfinite(value)):
        raise bad_request(f"{name} must be {what}", name)
    return value


# -- answers -------------------------------------------------------------------------


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _frame(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


class _Chunks:
    """The SSE frames of one streamed chat. What every chunk shares is encoded once:
    a frame per text piece is one small ``json.dumps`` and two joins."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.include_usage = include_usage
        shared = json.dumps(self.base, ensure_ascii=False)[:-1].encode()
        self._open = b"data: " + shared + b', "choices": [{"index": 0, "delta": '
        usage = b', "usage": null' if include_usage else b""
        self._close = b', "finish_reason": null}]' + usage + b"}\n\n"

    def delta(self, fields: Mapping[str, str]) -> bytes:
        return self._open + json.dumps(fields, ensure_ascii=False).encode() + self._close

    def end(self, deltas: Deltas) -> list[bytes]:
        """The last chunk (its finish reason), then the usage chunk when asked for."""
        choice = {"index": 0, "delta": deltas.last(), "finish_reason": deltas.finish_reason}
        last: dict[str, Any] = {**self.base, "choices": [choice]}
        if not self.include_usage:
            return [_frame(last)]
        usage = deltas.usage
        counts = (
            {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
            if usage is not None
            else _NO_USAGE
        )
        return [
            _frame({**last, "usage": None}),
            _frame({**self.base, "choices": [], "usage": counts}),
        ]


async def sse_frames(
    events: AsyncIterator[Event], model: str, *, include_usage: bool
) -> AsyncIterator[bytes]:
    """The SSE body of a streamed chat: ``chat.completion.chunk`` frames, the last one
    with the finish reason, with ``include_usage`` a usage chunk, then ``[DONE]``. An
    error before the first frame is raised (the caller answers it with a status); after
    it, it becomes an error frame, and what was sent stands."""
    chunks = _Chunks(model, include_usage)
    deltas = Deltas(reasoning=True)
    started = False
    try:
        async for event in events:
            fields = deltas.feed(event)
            if fields is not None:
                yield chunks.delta(fields)
                started = True
    except Exception as exc:
        if not started:
            raise
        yield _frame(error_for(exc).body())
    else:
        for frame in chunks.end(deltas):
            yield frame
    yield DONE


def completion_json(completion: ChatCompletion) -> dict[str, Any]:
    """A non-streamed chat's body: a ``chat.completion``."""
    body = asdict(completion)
    for choice in body["choices"]:
        choice["message"] = _drop_none(choice["message"])
    if body["usage"] is None:
        body["usage"] = _NO_USAGE
    return {"id": body.pop("id"), "object": body.pop("object"), **body}
