"""The G4F space: sizes, errors and queue messages, and the product end to end against
the emulated Hub and spaces (routing by model, status lines, images, Janus text, the
ZeroGPU token's expiry and the logged-in JWT)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import anyio
import pytest

from client import (
    AsyncClient,
    Config,
    Event,
    ImageResponse,
    ProviderError,
    Reasoning,
    TextDelta,
)
from client.providers.g4f_space import G4FSpaceProvider, QueueParser, image_size, strip_html
from harvester import Harvester
from storage import Cookie, Credential, CredentialStore

from ..conftest import fast
from ..emulators.g4f_space import (
    FLUX_DEV_HOST,
    FLUX_HOST,
    JANUS_HOST,
    LOGIN,
    QUOTA_ERROR,
    G4FSpaceEmulator,
    image_url,
    janus_text,
)
from ..emulators.rig import Rig
from ._cli import ROOT, cli_env

PROMPT = "a red fox"


@pytest.mark.parametrize(
    ("given", "rounded"),
    [((1024, 1024), (1024, 1024)), ((1023, 777), (1016, 776)), ((10, 39), (32, 32)), ("64", 0)],
)
def test_image_sizes_round_down_to_eight_and_up_to_32(given: tuple, rounded: object) -> None:
    if rounded == 0:
        assert image_size(given, given) == (64, 64)
    else:
        assert image_size(*given) == rounded


def test_space_errors_lose_their_html() -> None:
    assert strip_html(QUOTA_ERROR) == (
        "You have exceeded your GPU quota (75s requested vs. 74s left). "
        "Sign-up on Hugging Face to get more quota."
    )
    body = '{"error": "Out of memory <br/>"}'
    assert G4FSpaceProvider().service_error(500, body) == "the space reported: Out of memory"
    assert G4FSpaceProvider().service_error(502, "<html>Bad gateway</html>") is None


@pytest.mark.parametrize(
    ("messages", "events"),
    [
        pytest.param(['{"msg": "log", "log": "Loading"}'], [Reasoning("Loading")], id="log"),
        pytest.param(
            ['{"msg": "progress", "progress_data": [{"index": 3, "length": 28, "desc": "Steps"}]}'],
            [Reasoning("Steps 3/28")],
            id="progress",
        ),
        pytest.param(
            ['{"msg": "heartbeat"}', '{"msg": "estimation"}', '{"msg": "process_generating"}'],
            [],
            id="nothing to report",
        ),
        pytest.param(["{broken", '"a string"', '{"msg": "progress"}'], [], id="skipped"),
        pytest.param(
            ['{"msg": "process_completed", "output": {"data": [{"url": "https://x/1.png"}, 7]}}'],
            [ImageResponse(("https://x/1.png",), PROMPT)],
            id="an image",
        ),
        pytest.param(
            [
                '{"msg": "process_completed", "output": {"data": [[{"image": {"url": "u1"}},'
                ' {"image": {"url": "u2"}}]]}}'
            ],
            [ImageResponse(("u1", "u2"), PROMPT)],
            id="a gallery",
        ),
        pytest.param(
            ['{"msg": "process_completed", "output": {"data": ["Some text"]}}'],
            [TextDelta("Some text")],
            id="text",
        ),
    ],
)
def test_queue_parser(messages: list[str], events: list[Event]) -> None:
    parser = QueueParser(PROMPT)
    assert [e for m in messages for e in parser.feed(m)] == events


def test_a_failed_job_raises_the_spaces_message() -> None:
    failed = '{"msg": "process_completed", "output": {"error": "No <b>GPU</b>"}, "success": false}'
    with pytest.raises(ProviderError, match=r"the space reported: No GPU$"):
        QueueParser(PROMPT).feed(failed)


# -- end to end ------------------------------------------------------------------------


def statuses(events: list[Event]) -> list[str]:
    return [e.status for e in events if isinstance(e, Reasoning)]


def images(events: list[Event]) -> list[ImageResponse]:
    return [e for e in events if isinstance(e, ImageResponse)]


@pytest.mark.browser
@pytest.mark.anyio
async def test_each_model_goes_its_own_way(stored: Config, g4f: G4FSpaceEmulator) -> None:
    async with AsyncClient(stored) as client:
        dev = [e async for e in client.stream("g4f_space", PROMPT, seed=42, width=1023)]
        direct = [e async for e in client.stream("g4f_space", PROMPT, model="flux-schnell", seed=7)]
        text = [e async for e in client.stream("g4f_space", PROMPT, model="janus-pro-7b")]
        gallery = [
            e async for e in client.stream("g4f_space", PROMPT, model="janus-pro-7b-image", seed=3)
        ]

    assert images(dev) == [ImageResponse((image_url(FLUX_DEV_HOST, PROMPT, 42),), PROMPT)]
    assert statuses(dev) == ["Loading the model on a ZeroGPU"] + [
        f"Denoising {n}/6" for n in range(1, 7)
    ]
    (join,) = [r for r in g4f.space_requests(FLUX_DEV_HOST) if r.path.endswith("/join")]
    assert join.json()["data"] == [PROMPT, 42, False, 1016, 1024, 3.5, 28]
    # As Chromium's same-origin fetches: Origin on the POST, none on the GET.
    (data,) = [r for r in g4f.space_requests(FLUX_DEV_HOST) if r.path.endswith("/data")]
    assert join.header("origin") == f"https://{FLUX_DEV_HOST}"
    assert data.header("origin") is None

    assert images(direct) == [ImageResponse((image_url(FLUX_HOST, PROMPT, 7),), PROMPT)]
    lines = statuses(direct)
    assert lines[0] == "Acquiring GPU Token"
    assert lines[-1].startswith("Finished ")
    generating = lines[1:-1]
    # The endpoint takes 0.7 s: a status line about every 0.2 s meanwhile.
    assert 2 <= len(generating) <= 5, lines
    assert all(line.startswith("Generating ") and line.endswith("s") for line in generating)
    assert direct.index(images(direct)[0]) == len(direct) - 2  # the image, then "Finished"

    assert "".join(e for e in text if isinstance(e, str)) == janus_text(PROMPT, None)
    urls = tuple(image_url(JANUS_HOST, PROMPT, 3, n) for n in (0, 1))
    assert images(gallery) == [ImageResponse(urls, PROMPT)]

    predict = g4f.space_requests(FLUX_HOST)[-1]
    token = await _token(stored)
    assert predict.header("x-zerogpu-token") == token.tokens["token"]
    assert predict.header("x-zerogpu-uuid") == token.tokens["sessionUuid"]


async def _token(config: Config) -> Credential:
    async with CredentialStore.open(config.database) as store:
        credential = await store.get("g4f_space", "default")
    assert credential is not None
    return credential


@pytest.mark.browser
@pytest.mark.anyio
async def test_space_errors_are_clear_and_not_retried(
    stored: Config, g4f: G4FSpaceEmulator
) -> None:
    g4f.fail_next_job()
    g4f.state.generate_delay = 0.05
    async with AsyncClient(stored) as client:
        with pytest.raises(ProviderError, match=r"space reported: You have exceeded") as queue:
            _ = [e async for e in client.stream("g4f_space", PROMPT)]
        g4f.fail_next_job("CUDA out of memory <br>")
        with pytest.raises(ProviderError, match=r"space reported: CUDA out of memory$") as direct:
            _ = [e async for e in client.stream("g4f_space", PROMPT, model="flux-schnell")]
    assert "<a" not in str(queue.value)
    assert direct.value.status == 500
    assert len(g4f.space_requests(FLUX_HOST)) == 1  # the space's own error: no retry


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_broken_queue_is_retried_and_odd_messages_skipped(
    stored: Config, g4f: G4FSpaceEmulator
) -> None:
    from ..emulators.g4f_space import Fault

    g4f.add_fault(Fault(status=503))  # the join
    g4f.add_fault(Fault(malformed=True))  # the data stream
    async with AsyncClient(stored) as client:
        events = [e async for e in client.stream("g4f_space", PROMPT, seed=5)]
    assert images(events) == [ImageResponse((image_url(FLUX_DEV_HOST, PROMPT, 5),), PROMPT)]
    joins = [r for r in g4f.space_requests(FLUX_DEV_HOST) if r.path.endswith("/join")]
    assert len(joins) == 2


@pytest.mark.browser
@pytest.mark.anyio
async def test_an_expired_token_leads_to_a_refresh(
    private_rig: Rig, chromium: str, tmp_path: Path
) -> None:
    config = fast(private_rig.config(tmp_path / "credentials.db", chromium))
    emulator = private_rig.g4f_space
    async with Harvester(config) as harvester, AsyncClient(config, refresher=harvester) as client:
        first = await harvester.refresh("g4f_space")
        assert first.expires_at is not None
        assert 590 <= first.expires_at - first.harvested_at <= 600  # the token's own life

        emulator.expire_tokens()  # the space says so first
        events = [e async for e in client.stream("g4f_space", PROMPT, seed=1)]
        second = await client.store.get("g4f_space", "default")
        assert second is not None
        assert second.tokens["token"] != first.tokens["token"]

    # The client's clock says so first: harvested before the request is even sent.
    late = dataclasses.replace(config)
    async with (
        Harvester(late) as harvester,
        AsyncClient(late, refresher=harvester, clock=lambda: second.expires_at + 1) as client,
    ):
        _ = [e async for e in client.stream("g4f_space", PROMPT, model="janus-pro-7b")]
        third = await client.store.get("g4f_space", "default")
        attempts = await client.store.recent_attempts("g4f_space")
    assert images(events) == [ImageResponse((image_url(FLUX_DEV_HOST, PROMPT, 1),), PROMPT)]
    assert third is not None
    assert third.tokens["token"] not in (first.tokens["token"], second.tokens["token"])
    assert len(attempts) == 3
    refused = [r for r in emulator.space_requests(FLUX_DEV_HOST) if r.path.endswith("/join")]
    assert [r.header("x-zerogpu-token") for r in refused] == [
        first.tokens["token"],
        second.tokens["token"],
    ]


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_logged_in_cookie_makes_the_jwt_token_win(
    rig: Rig, g4f: G4FSpaceEmulator, chromium: str, tmp_path: Path
) -> None:
    config = fast(rig.config(tmp_path / "credentials.db", chromium))
    async with Harvester(config) as harvester:
        anonymous = await harvester.refresh("g4f_space")
        assert "jwt" not in anonymous.tokens
        # The user stores their Hugging Face login: the next harvest starts with it.
        login = Cookie("token", LOGIN, domain="huggingface.co", secure=True, http_only=True)
        await harvester.store.merge_cookies(
            "g4f_space", "default", [login], generation=anonymous.generation
        )
        logged_in = await harvester.refresh("g4f_space")
    assert logged_in.tokens["jwt"] != logged_in.tokens["token"]
    assert any(c.name == "token" and c.value == LOGIN for c in logged_in.cookies)
    async with AsyncClient(config) as client:
        events = [e async for e in client.stream("g4f_space", PROMPT, model="janus-pro-7b")]
    assert "".join(e for e in events if isinstance(e, str)) == janus_text(PROMPT, "alice")
    join = [r for r in g4f.space_requests(JANUS_HOST) if r.path.endswith("/join")][-1]
    assert join.header("x-zerogpu-token") == logged_in.tokens["jwt"]


@pytest.mark.browser
@pytest.mark.anyio
async def test_cli_prints_status_to_stderr_and_the_image_url_to_stdout(
    rig: Rig, g4f: G4FSpaceEmulator, chromium: str, tmp_path: Path
) -> None:
    env = cli_env(rig, tmp_path, chromium)
    with anyio.fail_after(90):
        done = await anyio.run_process(
            [sys.executable, "-m", "harvester", "chat", "-p", "g4f_space", "-m", "flux", PROMPT],
            env=env,
            cwd=ROOT,
            check=False,
        )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    (join,) = [r for r in g4f.space_requests(FLUX_DEV_HOST) if r.path.endswith("/join")]
    seed = join.json()["data"][1]
    assert out == image_url(FLUX_DEV_HOST, PROMPT, seed) + "\n"
    assert "Loading the model on a ZeroGPU\n" in err
    assert "Denoising 6/6\n" in err
