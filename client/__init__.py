"""The light client: reads a credential and talks to the provider as its browser did.

The providers are in ``client.providers`` (the explicit list and the lookups by name);
the wire parsers the client shares with the harvester are the ``fingerprint`` package's.
"""

from __future__ import annotations

from ._client import AsyncClient, Refresher
from ._config import (
    BrowserConfig,
    ClientConfig,
    Config,
    HarvesterConfig,
    NetworkConfig,
    ProviderConfig,
    ServerConfig,
    StorageConfig,
    default_database,
    is_profile_name,
    load_config,
    parse_duration,
)
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
    shorten,
)
from ._events import Event, FinishReason, ImageResponse, Reasoning, TextDelta, Usage, event_to_json
from ._http import HTTPReply, HTTPTransport
from ._openai import (
    ChatCompletion,
    ChatCompletionChunk,
    Deltas,
    collect_completion,
    completion_chunks,
)
from ._provider import ChatRequest, Message, Provider
from ._recipe import HarvestRecipe, Ready, Token, Widget
from ._replay import Replay, describe_fingerprint, plan_replay, replay_for
from ._retry import RetryPolicy
from ._session import ProviderSession
from ._sse import ServerSentEvent
from ._sync import Client
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
    "Config",
    "ConfigError",
    "CredentialRejected",
    "Deltas",
    "Event",
    "FinishReason",
    "HTTPReply",
    "HTTPTransport",
    "HarvestRecipe",
    "HarvesterConfig",
    "ImageResponse",
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
    "ServerConfig",
    "ServerError",
    "ServerSentEvent",
    "StorageConfig",
    "StreamBroken",
    "StreamTimeout",
    "TextDelta",
    "Token",
    "Transport",
    "UnknownModel",
    "UnknownProvider",
    "Usage",
    "Widget",
    "collect_completion",
    "completion_chunks",
    "curl_cffi_version",
    "default_database",
    "describe_fingerprint",
    "event_to_json",
    "impersonate_target",
    "is_profile_name",
    "load_config",
    "parse_duration",
    "plan_replay",
    "replay_for",
    "shorten",
]
