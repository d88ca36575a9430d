"""The accounts routes of the demo Spotify (``/accounts``): the consent page and tokens.

Codes and tokens are signed and stateless; the only memory is which codes were already
exchanged (a code works once) and when each user's refresh tokens were last revoked.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from bottle import Bottle, FormsDict, HTTPResponse, request

from spotify_demo.catalog import Catalog
from spotify_demo.config import DemoConfig
from spotify_demo.limits import Limits
from spotify_demo.responses import error_page, html_page, json_response, oauth_error
from spotify_demo.tokens import (
    ACCESS,
    APP_USER,
    CODE,
    CODE_TTL_S,
    REFRESH,
    TokenError,
    TokenExpired,
    TokenSigner,
)

# Spotify's refresh tokens do not expire by themselves; ten years stands for "never".
REFRESH_TTL_S = 10 * 365 * 86_400


GRANTS = "authorization_code, refresh_token, client_credentials"


class Grants:
    """Which codes were used and when refresh tokens were revoked, per user."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used_codes: set[str] = set()
        self._revoked_before_us: dict[str, int] = {}
        self._expired_before_us: dict[str, int] = {}

    def use_code(self, nonce: str) -> bool:
        """Mark a code as exchanged; False if it already was."""
        with self._lock:
            if nonce in self._used_codes:
                return False
            self._used_codes.add(nonce)
            return True

    def revoke(self, user_id: str) -> None:
        """Make every refresh token issued to ``user_id`` until now invalid, and its access
        tokens too (as when a person removes the app at Spotify)."""
        with self._lock:
            now_us = time.time_ns() // 1000
            self._revoked_before_us[user_id] = now_us
            self._expired_before_us[user_id] = now_us

    def expire(self, user_id: str) -> None:
        """End every access token issued to ``user_id`` (``APP_USER``: the app's) until now,
        before its announced expiry, as Spotify may."""
        with self._lock:
            self._expired_before_us[user_id] = time.time_ns() // 1000

    def is_expired(self, user_id: str, issued_us: int) -> bool:
        """Whether an access token issued at ``issued_us`` was ended early since."""
        with self._lock:
            return issued_us <= self._expired_before_us.get(user_id, -1)

    def is_revoked(self, user_id: str, issued_us: int) -> bool:
        """Whether a refresh token issued at ``issued_us`` was revoked since."""
        with self._lock:
            return issued_us <= self._revoked_before_us.get(user_id, -1)

    def clear_revocations(self) -> None:
        """Forget revocations (used codes stay used, as a code must never work twice)."""
        with self._lock:
            self._revoked_before_us.clear()
            self._expired_before_us.clear()


def _decoded(values: FormsDict) -> FormsDict:
    """Query or form values as UTF-8 text (Bottle's ``get`` gives WSGI latin-1 strings)."""
    return values.decode()


def _with_query(uri: str, params: dict[str, str]) -> str:
    """``uri`` with ``params`` appended to whatever query it already has."""
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"


@dataclass(eq=False)
class Accounts:
    """Route handlers of the accounts service."""

    catalog: Catalog
    limits: Limits
    signer: TokenSigner
    grants: Grants

    @property
    def config(self) -> DemoConfig:
        """The config in force."""
        return self.limits.config

    def _check_authorize_query(self, query: FormsDict) -> HTTPResponse | None:
        """An error page when the authorize query is unusable, else None."""
        if query.get("client_id") != self.config.client_id:
            return error_page(400, "INVALID_CLIENT: Invalid client")
        redirect_uri = query.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return error_page(400, "INVALID_CLIENT: Invalid redirect URI")
        if query.get("response_type", "code") != "code":
            return error_page(400, "response_type must be code")
        return None

    def authorize(self) -> HTTPResponse:
        """GET /accounts/authorize: pick a demo user, or cancel."""
        query = _decoded(request.query)
        refusal = self._check_authorize_query(query)
        if refusal is not None:
            return refusal
        carried = {k: query.get(k, "") for k in ("client_id", "redirect_uri", "state", "scope")}
        choices = []
        for user in self.catalog.users.values():
            # Relative to /accounts/authorize, so it works under any prefix of the accounts host.
            link = html.escape(f"authorize/approve?{urlencode({'user_id': user.id, **carried})}")
            label = html.escape(f"{user.display_name} — {user.blurb}")
            choices.append(f'<a class="button" href="{link}">{label}</a>')
        cancel = {"error": "access_denied"} | (
            {"state": carried["state"]} if carried["state"] else {}
        )
        cancel_link = html.escape(_with_query(carried["redirect_uri"], cancel))
        body = (
            "<h1>Demo Spotify: log in as…</h1>\n"
            "<p>This is the demo Spotify. Choose whose library the app may read.</p>\n"
            + "\n".join(choices)
            + f'\n<p><a href="{cancel_link}">Cancel</a></p>'
        )
        return html_page("Log in · demo Spotify", body)

    def approve(self) -> HTTPResponse:
        """GET /accounts/authorize/approve: back to the app with a fresh code."""
        query = _decoded(request.query)
        refusal = self._check_authorize_query(query)
        if refusal is not None:
            return refusal
        user = self.catalog.user(query.get("user_id", ""))
        if user is None:
            return error_page(400, "Unknown demo user")
        scope = query.get("scope", "")
        code = self.signer.issue(CODE, user.id, scope, CODE_TTL_S, query["redirect_uri"])
        params = {"code": code} | ({"state": query["state"]} if query.get("state") else {})
        return HTTPResponse(
            status=302, headers={"Location": _with_query(query["redirect_uri"], params)}
        )

    def _client_is_valid(self, forms: FormsDict) -> bool:
        """Whether the request authenticates the demo client (Basic header or form fields)."""
        client_id, secret = forms.get("client_id", ""), forms.get("client_secret", "")
        header = request.get_header("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            client_id, _, secret = decoded.partition(":")
        return hmac.compare_digest(client_id, self.config.client_id) and hmac.compare_digest(
            secret, self.config.client_secret
        )

    def token(self) -> HTTPResponse:
        """POST /accounts/api/token: exchange a code or a refresh token."""
        forms = _decoded(request.forms)
        if not self._client_is_valid(forms):
            return oauth_error(401, "invalid_client", "Invalid client")
        grant_type = forms.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(forms)
        if grant_type == "refresh_token":
            return self._refresh(forms)
        if grant_type == "client_credentials":
            return self._client_credentials()
        if not grant_type:
            return oauth_error(400, "unsupported_grant_type", "grant_type parameter is missing")
        return oauth_error(400, "unsupported_grant_type", f"grant_type must be one of {GRANTS}")

    def _exchange_code(self, forms: FormsDict) -> HTTPResponse:
        """Tokens for a code, which works once and only with its own redirect URI."""
        try:
            code = self.signer.verify(forms.get("code", ""), CODE)
        except TokenExpired:
            return oauth_error(400, "invalid_grant", "Authorization code expired")
        except TokenError:
            return oauth_error(400, "invalid_grant", "Invalid authorization code")
        if forms.get("redirect_uri", "") != code.redirect_uri:
            return oauth_error(400, "invalid_grant", "Invalid redirect URI")
        if not self.grants.use_code(code.nonce):
            return oauth_error(400, "invalid_grant", "Invalid authorization code")
        return self._tokens(code.user_id, code.scope, with_refresh=True)

    def _client_credentials(self) -> HTTPResponse:
        """An app token: catalog reads only, no user, no refresh token (as Spotify does)."""
        return self._tokens(APP_USER, "", with_scope=False)

    def _refresh(self, forms: FormsDict) -> HTTPResponse:
        """A new access token for a refresh token that was not revoked."""
        try:
            refresh = self.signer.verify(forms.get("refresh_token", ""), REFRESH)
        except TokenError:
            return oauth_error(400, "invalid_grant", "Invalid refresh token")
        if self.grants.is_revoked(refresh.user_id, refresh.issued_us):
            return oauth_error(400, "invalid_grant", "Refresh token revoked")
        # Like Spotify, the answer usually carries no new refresh token: keep the old one.
        return self._tokens(refresh.user_id, refresh.scope)

    def _tokens(
        self, user_id: str, scope: str, *, with_refresh: bool = False, with_scope: bool = True
    ) -> HTTPResponse:
        """The token endpoint's answer: a new access token for ``user_id`` and ``scope``."""
        ttl = self.config.token_ttl_s
        answer: dict[str, str | int] = {
            "access_token": self.signer.issue(ACCESS, user_id, scope, ttl),
            "token_type": "Bearer",
            "expires_in": ttl,
        }
        if with_refresh:
            answer["refresh_token"] = self.signer.issue(REFRESH, user_id, scope, REFRESH_TTL_S)
        if with_scope:
            answer["scope"] = scope
        return json_response(answer)


def install(
    app: Bottle, catalog: Catalog, limits: Limits, signer: TokenSigner, grants: Grants
) -> None:
    """Add the ``/accounts`` routes to ``app``."""
    accounts = Accounts(catalog, limits, signer, grants)
    app.get("/accounts/authorize", callback=accounts.authorize)
    app.get("/accounts/authorize/approve", callback=accounts.approve)
    app.post("/accounts/api/token", callback=accounts.token)
