"""The G4F space on Hugging Face (PROVIDERS.md section 4): ZeroGPU tokens and Gradio.

- ``GET https://huggingface.co/spaces/roxky/g4f-space`` embeds a fresh ZeroGPU token
  (a JWT that lives ``token_life`` seconds) and a session uuid in the page's
  entity-escaped props; the page fetches the space's info from ``/api/spaces/...``.
  With a logged-in ``token`` cookie, ``/api/spaces/roxky/g4f-space/jwt`` gives a token
  of that user; without one it answers 401.
- Every space call demands a known, unexpired ``x-zerogpu-token`` with its
  ``x-zerogpu-uuid`` (else 401 "ZeroGPU token expired or invalid").
- ``roxky-g4f-flux.hf.space``: ``POST /run/predict`` answers after ``generate_delay``
  seconds with the image URL; a space error is a 500 with ``{"error": ...}`` in HTML.
- ``roxky-flux-1-dev.hf.space`` and ``roxky-janus-pro-7b.hf.space``: the Gradio queue,
  ``POST /gradio_api/queue/join`` then ``GET /gradio_api/queue/data`` as SSE (
  estimation, process_starts, log, progress, heartbeat, process_generating,
  process_completed, close_stream), split at awkward places.
- Faults: a status, a cut or a stall of the queue stream, malformed messages, or an
  ``error`` from the space (in ``process_completed``, or the predict endpoint's 500).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from ._asgi import Request, Send, respond
from ._base import Emulator, EmulatorState, Fault, with_garbage

__all__ = [
    "FLUX_DEV_HOST",
    "FLUX_HOST",
    "HF_HOST",
    "JANUS_HOST",
    "Fault",
    "G4FSpaceEmulator",
    "image_url",
]

HF_HOST = "huggingface.co"
FLUX_HOST = "roxky-g4f-flux.hf.space"
FLUX_DEV_HOST = "roxky-flux-1-dev.hf.space"
JANUS_HOST = "roxky-janus-pro-7b.hf.space"
SPACE = "roxky/g4f-space"
LOGIN = "hf_login_cookie_of_alice"  # the value of a logged-in ``token`` cookie
QUOTA_ERROR = (
    "You have exceeded your GPU quota (75s requested vs. 74s left). "
    '<a style="white-space: nowrap;text-underline-offset: 2px;color: var(--body-text-color)" '
    'href="https://huggingface.co/join">Sign-up on Hugging Face</a> to get more quota.'
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

_PAGE = """<!DOCTYPE html><html><head><title>G4f Space - a Hugging Face Space by roxky</title>
</head><body>
<div class="SVELTE_HYDRATER contents" data-target="SpacePageInner" data-props="{props}"></div>
<script>
fetch("/api/spaces/roxky/g4f-space").then(r => r.json()).then(info => {{
  document.title = info.id + " - running";
}});
</script></body></html>"""
_ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass
class Job:
    space: str
    fn_index: int
    data: list[Any]
    user: str | None


@dataclass
class G4FState(EmulatorState):
    token_life: float = 600.0
    generate_delay: float = 0.7  # the direct endpoint's time to an image
    steps: int = 6  # progress messages of a queue job
    # ZeroGPU token -> (its session uuid or None for any, expiry, user or None)
    tokens: dict[str, tuple[str | None, float, str | None]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)  # session_hash -> job
    space_errors: list[str] = field(default_factory=list)  # the next jobs' errors
    malformed: bool = False


class G4FSpaceEmulator(Emulator[G4FState]):
    """The ASGI app for the Hub and the three spaces; ``state`` is shared with tests."""

    provider = "g4f_space"
    hosts = (HF_HOST, FLUX_HOST, FLUX_DEV_HOST, JANUS_HOST)

    def __init__(self) -> None:
        super().__init__(G4FState())

    def expire_tokens(self) -> None:
        """Every token issued so far expires now."""
        with self.state.lock:
            self.state.tokens = {k: (u, 0.0, who) for k, (u, _, who) in self.state.tokens.items()}

    def fail_next_job(self, message: str = QUOTA_ERROR) -> None:
        with self.state.lock:
            self.state.space_errors.append(message)

    def space_requests(self, host: str) -> list[Request]:
        with self.state.lock:
            return [r for r in self.state.requests if r.host == host]

    def reset(self) -> None:
        super().reset()
        with self.state.lock:
            self.state.space_errors.clear()
            self.state.malformed = False
            self.state.generate_delay = 0.7

    async def handle(self, request: Request, send: Send) -> None:
        host, path, method = request.host, request.path, request.method
        if host == HF_HOST:
            if path == f"/spaces/{SPACE}" and method == "GET":
                await self._page(send)
            elif path == f"/api/spaces/{SPACE}" and method == "GET":
                info = {"id": SPACE, "sdk": "gradio", "runtime": {"hardware": "zero-a10g"}}
                await respond(send, 200, json.dumps(info), content_type="application/json")
            elif path == f"/api/spaces/{SPACE}/jwt" and method == "GET":
                await self._jwt(request, send)
            else:
                await respond(send, 404, "not found", content_type="text/plain")
            return
        if path.startswith("/file="):
            await respond(send, 200, PNG, content_type="image/png")
            return
        fault = self.next_fault()
        if await self.fail_with_status(send, fault):
            return
        accepted, user = self._zerogpu(request)
        if not accepted:
            body = json.dumps({"error": "ZeroGPU token expired or invalid"})
            await respond(send, 401, body, content_type="application/json")
        elif host == FLUX_HOST and path == "/run/predict" and method == "POST":
            await self._predict(request, send)
        elif path == "/gradio_api/queue/join" and method == "POST":
            await self._join(request, send, user)
        elif path == "/gradio_api/queue/data" and method == "GET":
            await self._data(request, send, fault)
        else:
            await respond(send, 404, "not found", content_type="text/plain")

    # -- the Hub -----------------------------------------------------------------------

    def _issue(self, user: str | None) -> tuple[str, str | None]:
        """A new token; a page token comes with its own session uuid, a user's token
        (from the JWT endpoint) goes with any session uuid a page gave out."""
        session = str(uuid.uuid4()) if user is None else None
        expiry = time.time() + self.state.token_life
        token = _jwt({"sub": user or "anonymous", "exp": int(expiry), "n": secrets.token_hex(6)})
        with self.state.lock:
            self.state.tokens[token] = (session, expiry, user)
        return token, session

    async def _page(self, send: Send) -> None:
        token, session = self._issue(None)
        props = json.dumps(
            {"space": {"id": SPACE}, "token": token, "sessionUuid": session},
            separators=(",", ":"),
        )
        html = _PAGE.format(props=props.replace("&", "&amp;").replace('"', "&quot;"))
        await respond(send, 200, html, headers=[("cache-control", "no-store")])

    async def _jwt(self, request: Request, send: Send) -> None:
        if request.cookies.get("token") != LOGIN:
            await respond(send, 401, '{"error":"Unauthorized"}', content_type="application/json")
            return
        query = parse_qs(request.query)
        expiration = query.get("expiration", [""])[0]
        # The raw query must carry the timestamp URL-encoded (":" as %3A).
        if not _ISO_MS.fullmatch(expiration) or "%3A" not in request.query:
            await respond(send, 400, '{"error":"bad expiration"}', content_type="application/json")
            return
        if query.get("include_pro_status") != ["true"]:
            await respond(
                send, 400, '{"error":"include_pro_status"}', content_type="application/json"
            )
            return
        token, _session = self._issue("alice")
        await respond(send, 200, json.dumps({"token": token}), content_type="application/json")

    # -- the spaces --------------------------------------------------------------------

    def _zerogpu(self, request: Request) -> tuple[bool, str | None]:
        """Whether the request's token is accepted, and its user (``None``: anonymous)."""
        token = request.header("x-zerogpu-token") or ""
        with self.state.lock:
            known = self.state.tokens.get(token)
        if known is None:
            return False, None
        session, expiry, user = known
        given = request.header("x-zerogpu-uuid") or ""
        with self.state.lock:
            issued = {s for s, _, _ in self.state.tokens.values()}
        matches = given == session if session is not None else given in issued
        return expiry > time.time() and matches, user

    def _next_error(self) -> str | None:
        with self.state.lock:
            return self.state.space_errors.pop(0) if self.state.space_errors else None

    async def _predict(self, request: Request, send: Send) -> None:
        data = request.json()
        problem = _check_predict(data)
        if problem:
            await respond(
                send, 400, json.dumps({"error": problem}), content_type="application/json"
            )
            return
        await asyncio.sleep(self.state.generate_delay)
        error = self._next_error()
        if error is not None:
            await respond(send, 500, json.dumps({"error": error}), content_type="application/json")
            return
        prompt, seed = data["data"][0], data["data"][1]
        answer = {
            "data": [{"url": image_url(FLUX_HOST, prompt, seed), "orig_name": "image.webp"}, seed],
            "is_generating": False,
            "duration": self.state.generate_delay,
        }
        await respond(send, 200, json.dumps(answer), content_type="application/json")

    async def _join(self, request: Request, send: Send, user: str | None) -> None:
        data = request.json()
        space = FLUX_DEV_HOST if request.host == FLUX_DEV_HOST else JANUS_HOST
        problem = _check_join(space, data) or (
            None if "__theme=light" in request.query else "join with ?__theme=light"
        )
        if problem:
            await respond(
                send, 422, json.dumps({"detail": problem}), content_type="application/json"
            )
            return
        job = Job(space, data["fn_index"], data["data"], user)
        with self.state.lock:
            self.state.jobs[data["session_hash"]] = job
        body = json.dumps({"event_id": secrets.token_hex(16)})
        await respond(send, 200, body, content_type="application/json")

    async def _data(self, request: Request, send: Send, fault: Fault) -> None:
        session_hash = parse_qs(request.query).get("session_hash", [""])[0]
        with self.state.lock:
            job = self.state.jobs.pop(session_hash, None)
        if job is None or job.space != request.host:
            await respond(
                send, 404, '{"detail":"Session not found."}', content_type="application/json"
            )
            return
        messages = self._messages(job, self._next_error())
        records = ["data: " + json.dumps(m, ensure_ascii=False) for m in messages]
        if self.state.malformed or fault.malformed:
            records = with_garbage(records, _GARBAGE)
        await self.stream(
            send,
            records,
            fault,
            content_type="text/event-stream; charset=utf-8",
            separator="\n\n",
        )

    def _messages(self, job: Job, error: str | None) -> list[dict[str, Any]]:
        steps = self.state.steps
        messages: list[dict[str, Any]] = [
            {"msg": "estimation", "rank": 0, "queue_size": 1, "rank_eta": 1.5},
            {"msg": "process_starts", "eta": 1.5},
            {"msg": "log", "log": "Loading the model on a ZeroGPU", "level": "info"},
        ]
        for index in range(1, steps + 1):
            messages.append(
                {
                    "msg": "progress",
                    "progress_data": [
                        {"index": index, "length": steps, "unit": "steps", "desc": "Denoising"}
                    ],
                }
            )
            if index == steps // 2:
                messages.append({"msg": "heartbeat"})
                messages.append({"msg": "process_generating", "output": {"data": [None]}})
        if error is not None:
            completed = {"msg": "process_completed", "output": {"error": error}, "success": False}
        else:
            completed = {
                "msg": "process_completed",
                "output": {"data": _outputs(job), "is_generating": False},
                "success": True,
            }
        return [*messages, completed, {"msg": "close_stream"}]


def image_url(host: str, prompt: str, seed: int, index: int = 0) -> str:
    """The URL the emulator gives the image made for ``prompt`` and ``seed``."""
    digest = hashlib.sha256(f"{prompt}|{seed}|{index}".encode()).hexdigest()[:16]
    return f"https://{host}/gradio_api/file=/tmp/gradio/{digest}/image.webp"


def janus_text(prompt: str, user: str | None) -> str:
    """What the Janus text model answers."""
    return f"Janus sees: «{prompt}»" + (f" (for {user})" if user else "")


def _outputs(job: Job) -> list[Any]:
    if job.space == FLUX_DEV_HOST:
        prompt, seed = job.data[0], job.data[1]
        return [{"url": image_url(FLUX_DEV_HOST, prompt, seed)}, seed]
    if job.fn_index == 2:
        return [janus_text(job.data[1], job.user)]
    prompt, seed = job.data[0], job.data[1]
    return [
        [
            {"image": {"url": image_url(JANUS_HOST, prompt, seed, n)}, "caption": None}
            for n in (0, 1)
        ]
    ]


def _check_predict(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("fn_index") != 3 or data.get("trigger_id") != 10:
        return "fn_index 3 and trigger_id 10"
    if data.get("event_data") is not None or not re.fullmatch(
        r"[a-z0-9]{10}", str(data.get("session_hash"))
    ):
        return "event_data null and a 10-character session_hash"
    values = data.get("data")
    if not isinstance(values, list) or len(values) != 6 or values[4:] != [True, 1]:
        return "data: [prompt, seed, width, height, true, 1]"
    return _check_image(values[0], values[1], values[2], values[3])


def _check_join(space: str, data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("event_data") is not None:
        return "event_data null"
    values = data.get("data")
    if not isinstance(values, list) or not re.fullmatch(
        r"[0-9a-f]{32}", str(data.get("session_hash"))
    ):
        return "data and a uuid4-hex session_hash"
    if space == FLUX_DEV_HOST:
        if data.get("fn_index") != 2 or data.get("trigger_id") != 4 or len(values) != 7:
            return "FLUX.1-dev: fn_index 2, trigger_id 4, seven values"
        prompt, seed, randomize, width, height, guidance, steps = values
        if not isinstance(randomize, bool) or guidance != 3.5 or steps != 28:
            return "randomize_seed, guidance 3.5, 28 steps"
        return _check_image(prompt, seed, width, height)
    if data.get("fn_index") == 2:
        if len(values) != 5 or values[3:] != [0.95, 0.1] or not isinstance(values[1], str):
            return "Janus text: [image, prompt, seed, 0.95, 0.1]"
        return None
    if data.get("fn_index") == 3:
        if len(values) != 4 or values[2:] != [5, 1] or not isinstance(values[0], str):
            return "Janus image: [prompt, seed, 5, 1]"
        return None
    return "Janus: fn_index 2 or 3"


def _check_image(prompt: Any, seed: Any, width: Any, height: Any) -> str | None:
    if not isinstance(prompt, str) or not prompt:
        return "a prompt"
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        return "a 32-bit seed"
    for size in (width, height):
        if not isinstance(size, int) or size < 32 or size % 8:
            return "width and height: multiples of 8, at least 32"
    return None


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = part({"alg": "EdDSA", "typ": "JWT"})
    return f"{header}.{part(claims)}.{secrets.token_urlsafe(32)}"


_GARBAGE = ["data: {broken", 'data: {"no_msg": true}', ": ping", 'data: "just a string"']
