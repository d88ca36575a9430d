"""Signed, stateless tokens of the demo Spotify: access tokens, refresh tokens and codes.

A token reads ``<kind>_<base64url JSON payload>.<base64url HMAC-SHA256>``; the payload holds
the user id, the scope, the issue time and the expiry. Nothing is stored, so tokens survive a
restart of the demo as long as the key stays the same. Single use of codes and revocation of
refresh tokens are the only state, kept by the accounts routes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

ACCESS, REFRESH, CODE = "at", "rt", "ac"
# The "user" of an app token (client credentials): no demo user has an empty id.
APP_USER = ""
ALL_SCOPES = "user-read-private user-read-email user-follow-read user-library-read"
CODE_TTL_S = 600


class TokenError(ValueError):
    """A token that is malformed, forged or of the wrong kind."""


class TokenExpired(TokenError):
    """A well-signed token whose time is up."""


@dataclass(frozen=True)
class Token:
    """What a verified token says."""

    kind: str
    user_id: str
    scope: str
    issued_us: int
    expires: int
    nonce: str
    redirect_uri: str = ""

    @property
    def scopes(self) -> frozenset[str]:
        """The scope as a set of names."""
        return frozenset(self.scope.split())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens with one secret key."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, kind: str, user_id: str, scope: str, ttl_s: int, redirect_uri: str = "") -> str:
        """A new token of ``kind`` for ``user_id``, valid ``ttl_s`` seconds from now."""
        now_us = time.time_ns() // 1000
        payload = {
            "u": user_id,
            "s": scope,
            "i": now_us,
            "e": now_us // 1_000_000 + ttl_s,
            "n": secrets.token_hex(6),
        }
        if redirect_uri:
            payload["r"] = redirect_uri
        body = f"{kind}_{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, kind: str) -> Token:
        """The content of ``token``; raises ``TokenError`` or ``TokenExpired``."""
        body, _, signature = token.rpartition(".")
        if not body.startswith(f"{kind}_") or not hmac.compare_digest(signature, self._sign(body)):
            raise TokenError("bad token")
        try:
            payload = json.loads(_unb64(body[len(kind) + 1 :]))
            found = Token(
                kind=kind,
                user_id=str(payload["u"]),
                scope=str(payload["s"]),
                issued_us=int(payload["i"]),
                expires=int(payload["e"]),
                nonce=str(payload["n"]),
                redirect_uri=str(payload.get("r", "")),
            )
        except (ValueError, KeyError, TypeError):
            raise TokenError("bad token") from None
        if found.expires <= time.time():
            raise TokenExpired("token expired")
        return found
