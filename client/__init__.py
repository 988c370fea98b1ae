"""The light client: reads a credential and talks to the provider as its browser did."""

from __future__ import annotations

# The built-in providers register themselves on import.
from . import providers
from ._client import AsyncClient, Refresher
from ._config import (
    BrowserConfig,
    ClientConfig,
    Config,
    HarvesterConfig,
    NetworkConfig,
    ProviderConfig,
    default_database,
    load_config,
    parse_duration,
)
from ._cookies import cookie_header, parse_set_cookie
from ._errors import (
    ClientError,
    ConfigError,
    CredentialRejected,
    NetworkError,
    NoCredential,
    ProviderError,
    RateLimited,
    ServerError,
    StreamBroken,
    StreamTimeout,
    UnknownModel,
    UnknownProvider,
)
from ._events import Event, FinishReason, ImageResponse, Reasoning, TextDelta, Usage, event_to_json
from ._headers import ordered_headers, request_headers
from ._lines import LineDecoder, split_lines
from ._openai import ChatCompletion, ChatCompletionChunk
from ._provider import ChatRequest, Message, Provider
from ._recipe import HarvestRecipe, Ready, Token
from ._registry import (
    provider_class,
    provider_names,
    recipe_for,
    recipes,
    register_provider,
    register_recipe,
)
from ._retry import RetryPolicy
from ._session import ProviderSession
from ._sse import ServerSentEvent, SSEDecoder, split_events
from ._sync import Client
from ._transport import impersonate_target

__all__ = [
    "AsyncClient",
    "BrowserConfig",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatRequest",
    "Client",
    "ClientConfig",
    "ClientError",
    "Config",
    "ConfigError",
    "CredentialRejected",
    "Event",
    "FinishReason",
    "HarvestRecipe",
    "HarvesterConfig",
    "ImageResponse",
    "LineDecoder",
    "Message",
    "NetworkConfig",
    "NetworkError",
    "NoCredential",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderSession",
    "RateLimited",
    "Ready",
    "Reasoning",
    "Refresher",
    "RetryPolicy",
    "SSEDecoder",
    "ServerError",
    "ServerSentEvent",
    "StreamBroken",
    "StreamTimeout",
    "TextDelta",
    "Token",
    "UnknownModel",
    "UnknownProvider",
    "Usage",
    "cookie_header",
    "default_database",
    "event_to_json",
    "impersonate_target",
    "load_config",
    "ordered_headers",
    "parse_duration",
    "parse_set_cookie",
    "provider_class",
    "provider_names",
    "providers",
    "recipe_for",
    "recipes",
    "register_provider",
    "register_recipe",
    "request_headers",
    "split_events",
    "split_lines",
]
