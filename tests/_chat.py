"""One chat through a fresh ``AsyncClient``: the text it streamed."""

from __future__ import annotations

from client import AsyncClient, Config, TextDelta


async def chat_text(config: Config, provider: str, prompt: str = "count to 3") -> str:
    """The text ``provider`` streams for ``prompt``, with a client of ``config``."""
    text = ""
    async with AsyncClient(config) as client:
        async for event in client.stream(provider, prompt):
            if isinstance(event, TextDelta):
                text += event
    return text
