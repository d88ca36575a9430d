"""Spotify's authorization-code flow for the web app, refreshing stored tokens, and keeping
tokens out of the logs.

Plain ``requests`` rather than spotipy's ``SpotifyOAuth``: spotipy's flow falls back to
opening a browser or reading stdin when it has no usable token, and its errors lose the
HTTP status and ``Retry-After`` we need. The token dict we store keeps spotipy's shape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from spotipy.cache_handler import CacheHandler

from config.settings import Settings
from spotify.errors import (
    BadResponse,
    NeedsReauth,
    RequestRejected,
    error_for_status,
    raise_for_requests,
)

DEFAULT_SCOPES = "user-follow-read user-library-read"
# Refresh a little before the real expiry so that a token never dies in the middle of a call.
EXPIRY_MARGIN = 60


# spotipy logs every request's headers, Authorization included, at DEBUG. Keep its loggers at
# WARNING; the log formatter masks credentials in any line that gets through
# (config/log_mask.py).
logging.getLogger("spotipy").setLevel(logging.WARNING)


@dataclass(frozen=True)
class TokenInfo:
    """One user's tokens; ``repr`` hides them so that they never reach a log."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: int
    scope: str = ""
    token_type: str = "Bearer"

    def as_dict(self) -> dict[str, Any]:
        """The token as the dict stored in the database (spotipy's token_info shape)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenInfo:
        """Read a stored token dict; ``BadResponse`` if it is not one."""
        access = data.get("access_token")
        expires_at = data.get("expires_at")
        refresh_token = data.get("refresh_token")
        if not isinstance(access, str) or not access:
            raise BadResponse("The token has no access_token")
        if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
            raise BadResponse("The token has no expires_at")
        if refresh_token is not None and not isinstance(refresh_token, str):
            raise BadResponse("The token's refresh_token is not a string")
        return cls(
            access_token=access,
            refresh_token=refresh_token or None,
            expires_at=int(expires_at),
            scope=str(data.get("scope") or ""),
            token_type=str(data.get("token_type") or "Bearer"),
        )

    def expires_soon(self, now: float | None = None) -> bool:
        """Whether the access token is expired or about to be."""
        return self.expires_at - (time.time() if now is None else now) < EXPIRY_MARGIN


def authorize_url(settings: Settings, state: str, scopes: str = DEFAULT_SCOPES) -> str:
    """The Spotify page where the person grants us access; it redirects back with a code."""
    query = urlencode(
        {
            "client_id": settings.spotify_client_id,
            "response_type": "code",
            "redirect_uri": settings.spotify_redirect_uri,
            "scope": scopes,
            "state": state,
        }
    )
    return f"{settings.spotify_accounts_url}/authorize?{query}"


def exchange_code(
    settings: Settings, code: str, session: requests.Session | None = None
) -> TokenInfo:
    """Trade the code from the redirect for tokens; ``NeedsReauth`` if the code is refused."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.spotify_redirect_uri,
    }
    return _token_request(settings, form, "the sign-in code", session)


def refresh(
    settings: Settings, refresh_token: str, session: requests.Session | None = None
) -> TokenInfo:
    """A fresh access token; ``NeedsReauth`` when Spotify refuses the refresh token."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    token = _token_request(settings, form, "the token refresh", session)
    if token.refresh_token is None:
        # Spotify only sometimes rotates the refresh token; otherwise the old one stays valid.
        token = TokenInfo(
            token.access_token, refresh_token, token.expires_at, token.scope, token.token_type
        )
    return token


def _token_request(
    settings: Settings, form: dict[str, str], what: str, session: requests.Session | None
) -> TokenInfo:
    """POST to the token endpoint and read the answer, with the errors typed."""
    http = session or requests
    try:
        response = http.post(
            f"{settings.spotify_accounts_url}/api/token",
            data=form,
            auth=(settings.spotify_client_id, settings.spotify_client_secret),
            timeout=settings.spotify_timeout,
        )
    except requests.RequestException as exc:
        raise_for_requests(exc, what)
    if response.status_code >= 400:
        raise _oauth_error(response, what)
    try:
        data = response.json()
    except ValueError as exc:
        raise BadResponse(f"Spotify's answer to {what} was not valid JSON") from exc
    if not isinstance(data, dict):
        raise BadResponse(f"Spotify's answer to {what} was not a JSON object")
    expires_in = data.get("expires_in")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
        raise BadResponse(f"Spotify's answer to {what} has no expires_in")
    return TokenInfo.from_dict({**data, "expires_at": int(time.time() + expires_in)})


def _oauth_error(response: requests.Response, what: str) -> Exception:
    """The typed error for a refused token request."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("error") if isinstance(body, dict) else None
    code = code if isinstance(code, str) else None
    if code == "invalid_grant":
        return NeedsReauth(f"Spotify refused {what} (invalid_grant): the user must sign in again")
    if code and response.status_code in (400, 401, 403):
        # invalid_client and friends: our app's credentials or request are wrong, not the user's.
        return RequestRejected(f"Spotify refused {what} ({code})", status=response.status_code)
    return error_for_status(response.status_code, response.headers, "accounts", what)


class CallbackCacheHandler(CacheHandler):
    """A spotipy cache handler that loads and saves the token dict through two callables."""

    def __init__(
        self, load: Callable[[], dict[str, Any] | None], save: Callable[[dict[str, Any]], None]
    ) -> None:
        self._load = load
        self._save = save

    def get_cached_token(self) -> dict[str, Any] | None:
        """The stored token dict, if any."""
        return self._load()

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        """Store a new token dict."""
        self._save(token_info)


class UserAuth:
    """A spotipy auth manager over one user's stored token: refreshes when due, never prompts."""

    def __init__(
        self,
        settings: Settings,
        cache_handler: CacheHandler,
        on_needs_reauth: Callable[[], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.cache_handler = cache_handler
        self.on_needs_reauth = on_needs_reauth
        self._session = session
        # A sync's page threads share this manager: one refresh at a time, and each thread
        # remembers the token it was given, so a 401 renews only a token still stored.
        self._lock = threading.Lock()
        self._given = threading.local()
        # Once Spotify refuses the refresh token, no thread asks again: the grant is gone.
        self._refused: NeedsReauth | None = None

    def get_access_token(self, as_dict: bool = False) -> str | dict[str, Any]:
        """A valid access token, refreshed (and saved) first when it is about to expire."""
        with self._lock:
            token = self._stored()
            if token.expires_soon():
                token = self._refresh(token)
        self._given.access_token = token.access_token
        return token.as_dict() if as_dict else token.access_token

    def renew(self) -> None:
        """Spotify refused the access token before its announced expiry (a 401): refresh it
        once, unless another thread already has. ``NeedsReauth`` if the refresh is refused."""
        with self._lock:
            token = self._stored()
            if token.access_token == getattr(self._given, "access_token", None):
                self._refresh(token)

    def _stored(self) -> TokenInfo:
        """The stored token; ``NeedsReauth`` when there is none or it is unreadable."""
        if self._refused is not None:
            raise NeedsReauth(str(self._refused))
        stored = self.cache_handler.get_cached_token()
        if not stored:
            raise self._needs_reauth(NeedsReauth("No Spotify token is stored for the user"))
        try:
            return TokenInfo.from_dict(stored)
        except BadResponse:
            raise self._needs_reauth(NeedsReauth("The stored Spotify token is unusable")) from None

    def _refresh(self, token: TokenInfo) -> TokenInfo:
        """A new access token from the refresh token, saved; only a refused refresh (or none
        to use) means the person must sign in again."""
        if not token.refresh_token:
            raise self._needs_reauth(NeedsReauth("The stored token cannot be refreshed"))
        try:
            token = refresh(self.settings, token.refresh_token, self._session)
        except NeedsReauth as exc:
            self._refused = exc
            raise self._needs_reauth(exc) from None
        self.cache_handler.save_token_to_cache(token.as_dict())
        return token

    def _needs_reauth(self, error: NeedsReauth) -> NeedsReauth:
        """Tell the owner that the user must sign in again, and give back the error to raise."""
        if self.on_needs_reauth is not None:
            self.on_needs_reauth()
        return error


class AppAuth:
    """A spotipy auth manager on the app's own token (client credentials), for catalog reads.

    The token is kept in memory and shared by the process's threads until it nears expiry.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._session = session
        self._token: TokenInfo | None = None
        self._lock = threading.Lock()
        self._given = threading.local()

    def get_access_token(self, as_dict: bool = False) -> str | dict[str, Any]:
        """A valid app access token, fetched again when about to expire."""
        with self._lock:
            if self._token is None or self._token.expires_soon():
                self._token = self._fetch()
            token = self._token
        self._given.access_token = token.access_token
        return token.as_dict() if as_dict else token.access_token

    def renew(self) -> None:
        """Spotify refused the app's token before its expiry (a 401): fetch a new one, unless
        another thread already has."""
        with self._lock:
            given = getattr(self._given, "access_token", None)
            if self._token is None or self._token.access_token == given:
                self._token = self._fetch()

    def _fetch(self) -> TokenInfo:
        form = {"grant_type": "client_credentials"}
        return _token_request(self.settings, form, "the app token", self._session)
