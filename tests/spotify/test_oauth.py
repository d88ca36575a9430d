"""Signing in with Spotify: the authorize URL, the code exchange, refreshing stored tokens."""

from __future__ import annotations

import html
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from config.settings import Settings
from spotify.client import SpotifyClient
from spotify.errors import (
    BadResponse,
    NeedsReauth,
    RateLimited,
    RequestRejected,
    ServerError,
    SpotifyTimeout,
)
from spotify.oauth import (
    CallbackCacheHandler,
    TokenInfo,
    authorize_url,
    exchange_code,
    refresh,
)
from spotify_demo.harness import DemoSpotify


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    """Demo-mode settings with a var/ of the test's own."""
    env = {"OVERLAP_VAR_DIR": str(tmp_path), "SECRET_KEY": "test-secret-key-of-at-least-32-bytes"}
    return Settings.from_env(env, read_dotenv=False)


# --- pure parts --------------------------------------------------------------------------


def test_the_authorize_url_asks_for_a_code_with_our_client_redirect_scopes_and_state(
    plain_settings: Settings,
) -> None:
    url = authorize_url(plain_settings, state="s t&ate")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{plain_settings.spotify_accounts_url}/authorize"
    )
    assert parse_qs(parts.query) == {
        "client_id": [plain_settings.spotify_client_id],
        "response_type": ["code"],
        "redirect_uri": [plain_settings.spotify_redirect_uri],
        "scope": ["user-follow-read user-library-read"],
        "state": ["s t&ate"],
    }


def test_the_authorize_url_never_carries_the_client_secret(plain_settings: Settings) -> None:
    assert plain_settings.spotify_client_secret not in authorize_url(plain_settings, "x")


def test_a_token_survives_the_trip_through_its_stored_dict() -> None:
    token = TokenInfo("acc", "ref", 1_700_000_000, "user-follow-read")
    assert TokenInfo.from_dict(token.as_dict()) == token


def test_a_token_repr_never_shows_the_tokens() -> None:
    shown = repr(TokenInfo("secret-access", "secret-refresh", 1, "s"))
    assert "secret" not in shown


@pytest.mark.parametrize(
    "stored",
    [{}, {"access_token": "a"}, {"access_token": "", "expires_at": 1}, {"expires_at": 1}],
)
def test_a_stored_dict_without_a_token_is_rejected(stored: dict) -> None:
    with pytest.raises(BadResponse):
        TokenInfo.from_dict(stored)


def test_a_token_expires_soon_within_a_minute_of_its_expiry() -> None:
    now = time.time()
    assert TokenInfo("a", "r", int(now) + 30).expires_soon(now)
    assert not TokenInfo("a", "r", int(now) + 3600).expires_soon(now)


def test_the_callback_cache_handler_loads_and_saves_through_its_callables() -> None:
    store: dict[str, dict] = {}
    handler = CallbackCacheHandler(lambda: store.get("token"), lambda t: store.update(token=t))
    assert handler.get_cached_token() is None
    handler.save_token_to_cache({"access_token": "a"})
    assert handler.get_cached_token() == {"access_token": "a"}


# --- against the demo Spotify ------------------------------------------------------------


@pytest.fixture
def demo_settings(demo_spotify: DemoSpotify, tmp_path: Path) -> Settings:
    """App settings pointing at the demo Spotify, with a var/ of the test's own."""
    return demo_spotify.settings(OVERLAP_VAR_DIR=str(tmp_path)).but(spotify_timeout=5.0)


def sign_in_in_the_browser(settings: Settings, user_id: str, state: str) -> dict[str, list[str]]:
    """Open the authorize page, follow the link of ``user_id`` as a browser would, and give
    back the query of the redirect to our callback."""
    page_url = authorize_url(settings, state)
    page = requests.get(page_url, timeout=5)
    assert page.status_code == 200
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page.text)]
    link = next(h for h in hrefs if f"user_id={user_id}&" in h)
    answer = requests.get(urljoin(page_url, link), allow_redirects=False, timeout=5)
    assert answer.status_code in (302, 303), answer.status_code
    location = answer.headers["Location"]
    assert location.startswith(settings.spotify_redirect_uri + "?")
    return parse_qs(urlsplit(location).query)


def token_endpoint_calls(demo_spotify: DemoSpotify) -> int:
    """How many times the demo's token endpoint was called since its last reset."""
    return demo_spotify.stats()["routes"].get("POST /accounts/api/token", 0)


def test_signing_in_through_the_authorize_page_gives_tokens_of_that_user(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    query = sign_in_in_the_browser(demo_settings, "cleo", state="xyz-123")
    assert query["state"] == ["xyz-123"]
    token = exchange_code(demo_settings, query["code"][0])
    assert token.refresh_token
    assert token.expires_at > time.time() + 600
    assert set(token.scope.split()) == {"user-follow-read", "user-library-read"}
    assert SpotifyClient(demo_settings, token.access_token).me()["id"] == "cleo"


def test_a_code_gives_tokens_of_its_user_once_only(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    code = demo_spotify.code_for("cleo", demo_settings.spotify_redirect_uri)
    token = exchange_code(demo_settings, code)
    assert SpotifyClient(demo_settings, token.access_token).me()["id"] == "cleo"
    with pytest.raises(NeedsReauth):
        exchange_code(demo_settings, code)


def test_a_forged_code_needs_reauth(demo_spotify: DemoSpotify, demo_settings: Settings) -> None:
    with pytest.raises(NeedsReauth):
        exchange_code(demo_settings, "ac_forged.code")


def test_a_wrong_client_secret_is_rejected_not_reauth(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    code = demo_spotify.code_for("cleo", demo_settings.spotify_redirect_uri)
    with pytest.raises(RequestRejected) as caught:
        exchange_code(demo_settings.but(spotify_client_secret="wrong"), code)
    assert caught.value.status == 401
    assert "invalid_client" in str(caught.value)


def test_refreshing_gives_a_new_access_token_and_keeps_the_refresh_token(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    code = demo_spotify.code_for("cleo", demo_settings.spotify_redirect_uri)
    first = exchange_code(demo_settings, code)
    second = refresh(demo_settings, first.refresh_token)
    assert second.access_token != first.access_token
    assert second.refresh_token == first.refresh_token
    assert SpotifyClient(demo_settings, second.access_token).me()["id"] == "cleo"


def test_a_revoked_refresh_token_needs_reauth(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    refresh_token = demo_spotify.refresh_token_for("cleo")
    demo_spotify.revoke("cleo")
    with pytest.raises(NeedsReauth):
        refresh(demo_settings, refresh_token)


def test_an_unreachable_token_endpoint_is_a_timeout(demo_settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SpotifyTimeout):
        refresh(demo_settings.but(spotify_accounts_url=f"http://127.0.0.1:{port}"), "rt")


@pytest.fixture
def canned_accounts(demo_settings: Settings) -> Iterator[Callable[..., Settings]]:
    """A token endpoint that gives one canned answer (the demo's never fails on its own)."""
    answer: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(answer["status"])
            for name, value in answer["headers"].items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def answering(status: int, body: bytes, **headers: str) -> Settings:
        answer.update(status=status, body=body, headers=headers)
        url = f"http://127.0.0.1:{server.server_port}"
        return demo_settings.but(spotify_accounts_url=url)

    yield answering
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "status, body, headers, error",
    [
        (503, b"Service unavailable", {}, ServerError),
        (429, b"", {"Retry-After": "7"}, RateLimited),
        (200, b'{"access_token": "a", "tok', {}, BadResponse),
        (200, b'["not", "an", "object"]', {}, BadResponse),
        (200, b'{"access_token": "a", "token_type": "Bearer"}', {}, BadResponse),
        (400, b'{"error": "invalid_request"}', {}, RequestRejected),
    ],
)
def test_a_failing_token_endpoint_gives_typed_errors(
    canned_accounts: Callable[..., Settings],
    status: int,
    body: bytes,
    headers: dict[str, str],
    error: type[Exception],
) -> None:
    settings = canned_accounts(status, body, **headers)
    with pytest.raises(error) as caught:
        refresh(settings, "rt")
    if isinstance(caught.value, RateLimited):
        assert (caught.value.retry_after, caught.value.host_kind) == (7.0, "accounts")


# --- a client on a stored token -----------------------------------------------------------


class TokenStore:
    """The stored token of one user, as the models layer keeps it."""

    def __init__(self, token: dict | None) -> None:
        self.token = token
        self.saved: list[dict] = []
        self.reauth_calls = 0

    def load(self) -> dict | None:
        return self.token

    def save(self, token: dict) -> None:
        self.token = token
        self.saved.append(token)

    def needs_reauth(self) -> None:
        self.reauth_calls += 1


def stored_token(demo_spotify: DemoSpotify, user_id: str, expires_in: int) -> dict:
    """A stored token dict of ``user_id`` whose access token expires in ``expires_in`` s."""
    return TokenInfo(
        access_token=demo_spotify.token_for(user_id, expires_in=max(expires_in, 0)),
        refresh_token=demo_spotify.refresh_token_for(user_id),
        expires_at=int(time.time()) + expires_in,
        scope="user-follow-read user-library-read",
    ).as_dict()


def client_on(settings: Settings, store: TokenStore) -> SpotifyClient:
    return SpotifyClient.for_user(settings, store.load, store.save, store.needs_reauth)


def test_a_valid_stored_token_is_used_as_it_is(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    store = TokenStore(stored_token(demo_spotify, "ana", expires_in=3600))
    assert client_on(demo_settings, store).me()["id"] == "ana"
    assert (store.saved, token_endpoint_calls(demo_spotify)) == ([], 0)


def test_an_expired_stored_token_is_refreshed_and_saved_once(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    store = TokenStore(stored_token(demo_spotify, "ana", expires_in=-10))
    old = dict(store.token)
    client = client_on(demo_settings, store)
    assert client.me()["id"] == "ana"
    client.followed_artists_page(None)
    assert len(store.saved) == 1
    assert token_endpoint_calls(demo_spotify) == 1
    saved = store.saved[0]
    assert saved["access_token"] != old["access_token"]
    assert saved["refresh_token"] == old["refresh_token"]
    assert saved["expires_at"] > time.time() + 600
    assert store.reauth_calls == 0


def test_a_token_expiring_within_a_minute_is_refreshed_first(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    store = TokenStore(stored_token(demo_spotify, "ana", expires_in=30))
    client_on(demo_settings, store).me()
    assert len(store.saved) == 1


def test_a_revoked_stored_token_needs_reauth_and_tells_the_owner(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    store = TokenStore(stored_token(demo_spotify, "ana", expires_in=-10))
    demo_spotify.revoke("ana")
    with pytest.raises(NeedsReauth):
        client_on(demo_settings, store).me()
    assert store.reauth_calls == 1
    assert store.saved == []
    assert demo_spotify.stats()["requests"]["api"] == 0


@pytest.mark.parametrize("token", [None, {}, {"access_token": "x"}])
def test_no_usable_stored_token_needs_reauth_without_prompting(
    demo_settings: Settings, token: dict | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object) -> None:
        raise AssertionError("the client must never prompt or open a browser")

    monkeypatch.setattr("builtins.input", forbidden)
    monkeypatch.setattr("webbrowser.open", forbidden)
    store = TokenStore(token)
    with pytest.raises(NeedsReauth):
        client_on(demo_settings, store).me()
    assert store.reauth_calls == 1


def test_tokens_and_codes_never_reach_the_logs(
    demo_spotify: DemoSpotify, demo_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = demo_spotify.code_for("cleo", demo_settings.spotify_redirect_uri)
    token = exchange_code(demo_settings, code)
    store = TokenStore({**token.as_dict(), "expires_at": 0})
    client_on(demo_settings, store).me()
    secrets = [code, token.access_token, token.refresh_token, store.token["access_token"]]
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert not [s for s in secrets if s in caplog.text]
