"""The provider adapter base: declarative facts plus the code of one provider's protocol.

A provider module (``client/providers/NAME.py``) holds one ``NAMEProvider`` subclass of
``Provider``: it fills in the class attributes, declares its ``recipe`` and implements
``stream`` (and optionally ``fetch_models``); ``client.providers.PROVIDERS`` names it.
Everything shared (credentials, headers, cookies, retries, refreshes) is done around it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from fingerprint import Call

from ._errors import UnknownModel
from ._events import Event
from ._recipe import HarvestRecipe
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ._session import ProviderSession

__all__ = ["ChatRequest", "Message", "Provider", "normalize_messages"]


@dataclass(frozen=True)
class Message:
    """One chat message; ``content`` is plain text."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What the caller asked for, with the model already resolved to a provider id."""

    model: str
    messages: tuple[Message, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> list[str]:
        return [m.content for m in self.messages if m.role == "system"]

    @property
    def last_user(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


class Provider:
    """One web AI provider. Subclasses set the class attributes and ``stream``."""

    name: ClassVar[str]
    label: ClassVar[str]
    url: ClassVar[str]  # the site's origin
    recipe: ClassVar[HarvestRecipe]
    default_model: ClassVar[str]
    models: ClassVar[tuple[str, ...]] = ()
    aliases: ClassVar[Mapping[str, str]] = {}
    supports_stream: ClassVar[bool] = True
    supports_system_message: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    # Text in a 401/403 answer that means "your credential is refused" (a challenge page).
    rejection_markers: ClassVar[tuple[str, ...]] = ()
    # The site's own documented retry rule; None: the [client] table's.
    documented_retry: ClassVar[RetryPolicy | None] = None
    # The kinds of API call the site's script makes (method, body type, the headers it
    # sets): the harvester has Chromium make each one at capture, and the adapter names
    # the one it is making (``session.request(..., call=...)``) so its headers go out in
    # the order Chromium gave it.
    calls: ClassVar[tuple[Call, ...]] = ()

    def is_rejection(self, status: int, body: str) -> bool:
        """Whether an error answer means the credential is no longer accepted."""
        if status not in (401, 403):
            return False
        return not self.rejection_markers or any(m in body for m in self.rejection_markers)

    def service_error(self, status: int, body: str) -> str | None:
        """The service's own message in an error answer, when it gives one the user
        should read (such an error is not retried); ``None``: a plain HTTP error."""
        return None

    def resolve_model(self, model: str | None, live: Sequence[str] = ()) -> str:
        """The provider's id for ``model`` (an id or an alias); ``None``: the default."""
        if model is None or model == "":
            return self.default_model
        if model in self.aliases:
            return self.aliases[model]
        if model in self.models or model in live:
            return model
        raise UnknownModel(self.name, model, self.valid_models(live))

    def valid_models(self, live: Sequence[str] = ()) -> list[str]:
        """Every name ``resolve_model`` accepts: aliases first, then ids."""
        ids = list(dict.fromkeys([*self.models, *live]))
        return [*sorted(self.aliases), *ids]

    async def fetch_models(self, session: ProviderSession) -> list[str] | None:
        """The live model list from the site, or ``None`` if the site has none."""
        return None

    def stream(self, session: ProviderSession, request: ChatRequest) -> AsyncIterator[Event]:
        """Send ``request`` through ``session`` and yield events as they arrive."""
        raise NotImplementedError


_NAME = re.compile(r"[a-z][a-z0-9_]*")


def check_provider_class(cls: type[Provider]) -> None:
    """Raise on a provider class missing a declaration (the providers' tests run it)."""
    missing = [
        attr
        for attr in ("name", "label", "url", "recipe", "default_model")
        if not hasattr(cls, attr)
    ]
    if missing:
        raise TypeError(f"provider {cls.__name__} does not declare {', '.join(missing)}")
    if not _NAME.fullmatch(cls.name):
        raise ValueError(f"provider names are lower-case letters, digits and _: {cls.name!r}")
    if not cls.__name__.endswith("Provider"):
        raise ValueError(f"provider class names end in Provider: {cls.__name__}")
    if cls.stream is Provider.stream:
        raise TypeError(f"provider {cls.__name__} does not implement stream()")


def normalize_messages(
    messages: str | Sequence[Mapping[str, Any] | Message],
) -> tuple[Message, ...]:
    """Messages as ``Message``s: a bare string is one user message; OpenAI-style dicts
    with text parts are joined to plain text."""
    if isinstance(messages, str):
        return (Message("user", messages),)
    result = []
    for item in messages:
        if isinstance(item, Message):
            result.append(item)
            continue
        role = str(item.get("role", "user"))
        content = item.get("content", "")
        if isinstance(content, list):
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, Mapping)
            )
        result.append(Message(role, str(content)))
    if not result:
        raise ValueError("messages is empty: give at least one message")
    return tuple(result)
