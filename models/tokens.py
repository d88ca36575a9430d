"""Spotify tokens sealed at rest: Fernet (AES-128-CBC with HMAC-SHA256), keys rotatable.

A stolen database (or a backup of it) must not hand over everyone's Spotify access and
refresh tokens, so ``users.token_json`` holds a Fernet token of the JSON, not the JSON.
MultiFernet opens a token sealed with any of the keys and seals with the first, so a key
is rotated by putting a new one in front of ``TOKEN_KEY``, restarting, and running
``overlap tokens rotate-key`` before dropping the old one (docs/security.md).

How the keys get here: the models layer reads no settings. Every process that opens the
database calls ``configure(settings.token_keys)`` beside ``init_database(...)``, once at
start-up, like the database proxy next door. Until then sealing or opening a token raises
``TokenKeysMissing``: a process that forgot fails loudly instead of storing plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_keyring: MultiFernet | None = None


class TokenKeysMissing(RuntimeError):
    """A token was sealed or opened before ``configure`` gave this process its keys."""


class UnreadableToken(ValueError):
    """A stored token that none of the configured keys opens (wrong key, or damaged)."""


def configure(keys: Sequence[str]) -> None:
    """Give this process the token keys, newest first (``settings.token_keys``)."""
    global _keyring
    if not keys:
        raise ValueError("at least one token key is needed")
    _keyring = MultiFernet([Fernet(key) for key in keys])


def _ring() -> MultiFernet:
    if _keyring is None:
        raise TokenKeysMissing(
            "models.tokens.configure(settings.token_keys) was not called in this process"
        )
    return _keyring


def is_legacy(stored: str) -> bool:
    """Whether ``stored`` is a token saved as plain JSON before tokens were sealed."""
    # A Fernet token is url-safe base64 and never starts with a brace.
    return stored.lstrip().startswith("{")


def seal(token: dict[str, Any]) -> str:
    """The token dict sealed with the newest key, as text for the column."""
    return _ring().encrypt(json.dumps(token).encode()).decode()


def open_sealed(stored: str) -> dict[str, Any]:
    """The token dict from the column's text; plain JSON from before sealing is read too."""
    token: dict[str, Any]
    if is_legacy(stored):
        token = json.loads(stored)
        return token
    try:
        token = json.loads(_ring().decrypt(stored.encode()))
    except InvalidToken:
        raise UnreadableToken("no TOKEN_KEY opens this stored token") from None
    return token


def reseal(stored: str) -> str:
    """The same token sealed with the newest key (a legacy plaintext one sealed at last)."""
    if is_legacy(stored):
        return seal(json.loads(stored))
    try:
        return _ring().rotate(stored.encode()).decode()
    except InvalidToken:
        raise UnreadableToken("no TOKEN_KEY opens this stored token") from None
