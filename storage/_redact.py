"""Keeping secrets out of reprs, messages and logs.

Cookie values, page tokens, header values and proxy passwords are secrets. Models mark
their secret fields with ``secret()`` and share one ``__repr__`` that prints
``[secure]`` in their place, the way httpx prints URLs with passwords.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_url", "redacted_repr", "secret"]

REDACTED = "[secure]"


def secret(**kwargs: Any) -> Any:
    """A dataclass field whose value never appears in ``repr``."""
    metadata = {**kwargs.pop("metadata", {}), "secret": True}
    return dataclasses.field(metadata=metadata, **kwargs)


def redacted_repr(obj: Any) -> str:
    """``ClassName(field=value, ...)`` with secret fields shown as ``[secure]``."""
    parts = []
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if f.metadata.get("secret") and value is not None:
            if isinstance(value, dict):
                # Keep the keys: they say *which* tokens exist, which is not secret.
                shown = "{" + ", ".join(f"{k!r}: {REDACTED}" for k in value) + "}"
            elif isinstance(value, tuple) and all(
                isinstance(item, tuple) and len(item) == 2 for item in value
            ):
                shown = "(" + ", ".join(f"({k!r}, {REDACTED})" for k, _ in value) + ")"
            else:
                shown = REDACTED
        elif f.metadata.get("url") and isinstance(value, str):
            shown = repr(redact_url(value))
        else:
            shown = repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info (if any) replaced by ``[secure]``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if parts.password is None and "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    # A lone user-info ("token@host") is often the secret itself: hide it whole.
    netloc = f"{user}:{REDACTED}@{hostport}" if colon and user else f"{REDACTED}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))
