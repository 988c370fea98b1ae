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
from ._fingerprint import Fingerprint, FingerprintError, ja4_alpn
from ._h2_opening import (
    H2Error,
    H2Incomplete,
    H2Opening,
    encode_literal_headers,
    parse_h2_opening,
)
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
from ._replay import Replay, describe_fingerprint, plan_replay, replay_for
from ._retry import RetryPolicy
from ._session import ProviderSession
from ._sse import ServerSentEvent, SSEDecoder, split_events
from ._sync import Client
from ._tls_hello import (
    ClientHello,
    HelloError,
    HelloIncomplete,
    hello_length,
    is_grease,
    parse_client_hello,
)
from ._transport import Transport, curl_cffi_version, impersonate_target

__all__ = [
    "AsyncClient",
    "BrowserConfig",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatRequest",
    "Client",
    "ClientConfig",
    "ClientError",
    "ClientHello",
    "Config",
    "ConfigError",
    "CredentialRejected",
    "Event",
    "Fingerprint",
    "FingerprintError",
    "FinishReason",
    "H2Error",
    "H2Incomplete",
    "H2Opening",
    "HarvestRecipe",
    "HarvesterConfig",
    "HelloError",
    "HelloIncomplete",
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
    "Replay",
    "RetryPolicy",
    "SSEDecoder",
    "ServerError",
    "ServerSentEvent",
    "StreamBroken",
    "StreamTimeout",
    "TextDelta",
    "Token",
    "Transport",
    "UnknownModel",
    "UnknownProvider",
    "Usage",
    "cookie_header",
    "curl_cffi_version",
    "default_database",
    "describe_fingerprint",
    "encode_literal_headers",
    "event_to_json",
    "hello_length",
    "impersonate_target",
    "is_grease",
    "ja4_alpn",
    "load_config",
    "ordered_headers",
    "parse_client_hello",
    "parse_duration",
    "parse_h2_opening",
    "parse_set_cookie",
    "plan_replay",
    "provider_class",
    "provider_names",
    "providers",
    "recipe_for",
    "recipes",
    "register_provider",
    "register_recipe",
    "replay_for",
    "request_headers",
    "split_events",
    "split_lines",
]
