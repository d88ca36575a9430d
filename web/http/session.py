"""Signed sessions and CSRF protection.

The session is a small JSON dict in a cookie signed with itsdangerous (never Bottle's own
``secret=`` cookies, which unpickle what they read). Every HTML page carries the session's
CSRF token in ``<meta name="csrf-token">``; every POST must send it back as the form field
``csrf_token`` or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import bottle
from itsdangerous import BadSignature, URLSafeTimedSerializer

from web.http.headers import header

COOKIE = "overlap_session"
MAX_AGE_S = 30 * 24 * 3600


class Session(dict):
    """The request's session values; saved on the response when changed."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def pop(self, key: str, default: Any = None) -> Any:
        """Remove and return a value (marks the session changed)."""
        self.modified = True
        return super().pop(key, default)

    def clear(self) -> None:
        """Forget everything (sign-out)."""
        self.modified = True
        super().clear()

    @property
    def csrf_token(self) -> str:
        """The session's CSRF token, made on first use."""
        if "csrf" not in self:
            self["csrf"] = secrets.token_urlsafe(24)
        return self["csrf"]


class SessionStore:
    """Reads the session from the request's cookie and writes it to the response."""

    def __init__(self, secret_key: str, secure: bool = False) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt="overlap-session")
        # Decided once from the settings, never from a request header a client can send.
        self.secure = secure

    def load(self, request: bottle.BaseRequest) -> Session:
        """The request's session; a missing, expired or tampered cookie gives an empty one."""
        raw = request.get_cookie(COOKIE)
        if not raw or len(raw) > 4096:
            return Session()
        try:
            data = self.serializer.loads(raw, max_age=MAX_AGE_S)
        except BadSignature:
            return Session()
        return Session(data) if isinstance(data, dict) else Session()

    def save(
        self, session: Session, request: bottle.BaseRequest, response: bottle.BaseResponse
    ) -> None:
        """Write the session cookie when the session changed."""
        if not session.modified:
            return
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(dict(session)),
            max_age=MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )


def csrf_ok(session: Session, request: bottle.BaseRequest) -> bool:
    """Whether a POST carries the session's CSRF token."""
    expected = session.get("csrf")
    sent = header(request, "X-CSRF-Token") or request.forms.get("csrf_token") or ""
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 403).
    return bool(expected) and hmac.compare_digest(
        str(sent).encode("utf-8", "surrogatepass"), str(expected).encode()
    )
