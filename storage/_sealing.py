"""Secrets at rest: the credential bodies (cookie values, tokens, the page's headers)
encrypted with AES-256-GCM when the store has a key (``[storage] key`` or
``HARVEST_STORE_KEY``).

The key is any string: a random one is best (``secrets.token_urlsafe(32)``); it is
stretched to 256 bits with HKDF-SHA256. Each body gets a fresh 96-bit nonce, and its
(provider, profile) as associated data, so a sealed body copied onto another row does
not open. A store remembers that it is sealed by a sealed check value: the wrong key,
or none, is a clear error at open, never garbage later. Without a key the bodies are
plain JSON, as before; a plain store given a key reads its old rows and seals new ones.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._errors import StoreKeyError

__all__ = ["CHECK_NAME", "SEALED", "Sealer", "is_sealed"]

SEALED = "sealed:v1:"  # how a sealed body starts (JSON never does)
CHECK_NAME = "key_check"  # the store_meta row holding a sealed check value
_CHECK = "session-harvest"
_NONCE = 12


def is_sealed(body: str) -> bool:
    return body.startswith(SEALED)


class Sealer:
    """Seals and opens bodies with one store key."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("an empty store key")
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"session-harvest store v1"
        ).derive(key.encode())
        self._aead = AESGCM(derived)

    def __repr__(self) -> str:
        return "Sealer(<key set>)"

    def seal(self, body: str, provider: str, profile: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, body.encode(), _context(provider, profile))
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str, provider: str, profile: str, *, where: str) -> str:
        """The body ``stored`` holds (as it is, if it is not sealed)."""
        if not is_sealed(stored):
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED) :])
            opened = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _context(provider, profile))
        except (InvalidTag, ValueError):
            raise StoreKeyError(
                where,
                f"the credential {provider}/{profile} does not open with this key: it was "
                "sealed with another key or damaged",
            ) from None
        return opened.decode()

    def check_value(self) -> str:
        return self.seal(_CHECK, "", "")

    def matches(self, check: str) -> bool:
        try:
            return self.open(check, "", "", where="") == _CHECK
        except StoreKeyError:
            return False


def unsealed(stored: str, provider: str, profile: str, where: str) -> str:
    """``stored`` for a store with no key: a sealed body is an error that says so."""
    if is_sealed(stored):
        raise StoreKeyError(
            where,
            "its credentials are encrypted: set [storage] key in the config or "
            "HARVEST_STORE_KEY to the key they were sealed with",
        )
    return stored


def _context(provider: str, profile: str) -> bytes:
    return f"{provider}\0{profile}".encode()
