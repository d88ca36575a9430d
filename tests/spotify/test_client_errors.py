"""Every failure of Spotify becomes one typed error, after exactly one request."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.exceptions import ChunkedEncodingError

from config.settings import Settings
from spotify.client import SpotifyClient
from spotify.errors import (
    BadResponse,
    NeedsReauth,
    NotFound,
    RateLimited,
    RequestRejected,
    ServerError,
    SpotifyError,
    SpotifyTimeout,
    TokenRefused,
    error_for_requests,
    error_for_status,
    parse_retry_after,
    raise_for_requests,
)
from spotify_demo.harness import DemoSpotify
from spotify_demo.tokens import APP_USER

# --- Retry-After and status codes --------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [("30", 30.0), ("0", 0.0), (" 7 ", 7.0), ("2.5", 2.5), ("86400", 86400.0), ("-4", 0.0)],
)
def test_retry_after_in_seconds_is_read(header: str, expected: float) -> None:
    assert parse_retry_after(header) == expected


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf", "Mon, 99 Foo 2024"])
def test_an_absent_or_unreadable_retry_after_means_one_second(header: str | None) -> None:
    assert parse_retry_after(header) == 1.0


def test_retry_after_as_an_http_date_is_the_time_until_then() -> None:
    header = email.utils.formatdate(1_000_120, usegmt=True)
    assert parse_retry_after(header, now=1_000_000) == pytest.approx(120)


@pytest.mark.parametrize(
    "status, kind",
    [
        (401, TokenRefused),
        (404, NotFound),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (400, RequestRejected),
        (403, RequestRejected),
    ],
)
def test_each_status_gives_its_typed_error(status: int, kind: type[SpotifyError]) -> None:
    error = error_for_status(status, {}, "api", "the thing")
    assert type(error) is kind
    assert isinstance(error, SpotifyError)


def test_a_429_carries_retry_after_and_the_host_kind() -> None:
    error = error_for_status(429, {"Retry-After": "12"}, "open", "a page")
    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.host_kind) == (12.0, "open")
    assert "12" in str(error)


def test_a_429_without_retry_after_waits_one_second() -> None:
    error = error_for_status(429, None, "api", "a page")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 1.0


def test_a_server_error_keeps_its_status() -> None:
    error = error_for_status(503, {}, "api", "x")
    assert isinstance(error, ServerError)
    assert error.status == 503


def test_requests_failures_become_timeouts_or_bad_responses() -> None:
    assert isinstance(error_for_requests(requests.ReadTimeout(), "x"), SpotifyTimeout)
    assert isinstance(error_for_requests(requests.ConnectTimeout(), "x"), SpotifyTimeout)
    assert isinstance(error_for_requests(requests.ConnectionError(), "x"), SpotifyTimeout)
    assert isinstance(error_for_requests(ChunkedEncodingError(), "x"), BadResponse)
    assert isinstance(error_for_requests(requests.JSONDecodeError("x", "{", 1), "x"), BadResponse)
    assert error_for_requests(requests.exceptions.InvalidURL(), "x") is None


def test_raise_for_requests_raises_the_typed_error_or_the_programming_error_itself() -> None:
    timeout = requests.ReadTimeout()
    with pytest.raises(SpotifyTimeout) as raised:
        raise_for_requests(timeout, "the followed artists")
    assert raised.value.__cause__ is timeout and "the followed artists" in str(raised.value)
    bad_url = requests.exceptions.InvalidURL()
    with pytest.raises(requests.exceptions.InvalidURL) as again:
        raise_for_requests(bad_url, "x")
    assert again.value is bad_url


# --- against the demo Spotify ------------------------------------------------------------


@pytest.fixture
def demo_settings(demo_spotify: DemoSpotify, tmp_path: Path) -> Settings:
    """App settings pointing at the demo Spotify, with a var/ of the test's own."""
    return demo_spotify.settings(OVERLAP_VAR_DIR=str(tmp_path)).but(spotify_timeout=5.0)


@pytest.fixture
def client(demo_spotify: DemoSpotify, demo_settings: Settings) -> SpotifyClient:
    """A client of Cléo with a valid token."""
    return SpotifyClient(demo_settings, demo_spotify.token_for("cleo"))


# A stalled answer comes this long after its request: far past the short timeouts the
# tests give the client, so that a client thread a loaded machine holds back for a second
# still finds no answer, and gives up as it would on Spotify.
STALL_S = 10


def api_requests(demo_spotify: DemoSpotify) -> int:
    """How many Web API requests the demo has served since its last reset."""
    return demo_spotify.stats()["requests"]["api"]


def test_a_bad_token_needs_reauth(demo_spotify: DemoSpotify, demo_settings: Settings) -> None:
    with pytest.raises(NeedsReauth):
        SpotifyClient(demo_settings, "not-a-token").me()


def test_an_expired_token_needs_reauth(demo_spotify: DemoSpotify, demo_settings: Settings) -> None:
    client = SpotifyClient(demo_settings, demo_spotify.token_for("cleo", expires_in=0))
    with pytest.raises(NeedsReauth):
        client.followed_artists_page(None)


def test_a_token_without_the_scope_is_rejected_not_reauth(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    token = demo_spotify.token_for("cleo", scope="user-read-private")
    with pytest.raises(RequestRejected) as caught:
        SpotifyClient(demo_settings, token).saved_tracks_page(0)
    assert caught.value.status == 403


def test_an_unknown_artist_is_not_found(demo_spotify: DemoSpotify, client: SpotifyClient) -> None:
    with pytest.raises(NotFound):
        client.artist("0" * 22)


def test_a_rate_limit_is_one_request_and_carries_retry_after(
    demo_spotify: DemoSpotify, client: SpotifyClient
) -> None:
    demo_spotify.set_faults(rate_limit=1, rate_window_s=30)
    client.me()
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.saved_tracks_page(0)
    # No retry and no sleeping through Retry-After (25 s at least): the job decides what to
    # do. (How long the one request took is the machine's business: a loaded one is slow.)
    assert time.monotonic() - started < caught.value.retry_after
    assert api_requests(demo_spotify) == 2
    assert demo_spotify.stats()["rate_limited"] == 1
    assert caught.value.host_kind == "api"
    assert 25 <= caught.value.retry_after <= 30


def test_the_daily_quota_asks_to_wait_until_utc_midnight(
    demo_spotify: DemoSpotify, client: SpotifyClient
) -> None:
    demo_spotify.set_faults(daily_quota=1)
    client.me()
    with pytest.raises(RateLimited) as caught:
        client.me()
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    assert caught.value.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)
    assert api_requests(demo_spotify) == 2


def test_a_server_error_is_one_request_and_keeps_its_status(
    demo_spotify: DemoSpotify, client: SpotifyClient
) -> None:
    demo_spotify.set_faults(fault_rate=1)
    with pytest.raises(ServerError) as caught:
        client.followed_artists_page(None)
    assert caught.value.status in (500, 502, 503)
    assert api_requests(demo_spotify) == 1


def test_a_stalled_answer_is_a_timeout_after_the_configured_seconds(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    client = SpotifyClient(demo_settings.but(spotify_timeout=0.5), demo_spotify.token_for("cleo"))
    demo_spotify.set_faults(timeout_rate=1, timeout_seconds=STALL_S)
    started = time.monotonic()
    with pytest.raises(SpotifyTimeout):
        client.me()
    # Well before the stalled answer would have come: the client gave up on its own.
    assert 0.4 < time.monotonic() - started < STALL_S - 1
    assert api_requests(demo_spotify) == 1


def test_a_truncated_answer_is_a_bad_response(
    demo_spotify: DemoSpotify, client: SpotifyClient
) -> None:
    demo_spotify.set_faults(truncate_rate=1)
    with pytest.raises(BadResponse):
        client.saved_albums_page(0)


def test_nobody_listening_is_a_timeout(demo_settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SpotifyClient(demo_settings.but(spotify_api_url=f"http://127.0.0.1:{port}/v1"), "t")
    with pytest.raises(SpotifyTimeout):
        client.me()


def test_errors_never_show_the_token(demo_spotify: DemoSpotify, demo_settings: Settings) -> None:
    token = demo_spotify.token_for("cleo", expires_in=0)
    with pytest.raises(NeedsReauth) as caught:
        SpotifyClient(demo_settings, token).me()
    assert token not in str(caught.value)
    assert token not in repr(caught.value.__cause__)


# --- every call, every refusal the demo Spotify can be told to give ----------------------

CALLS: dict[str, Callable[[SpotifyClient, DemoSpotify], Any]] = {
    "me": lambda client, demo: client.me(),
    "artist": lambda client, demo: client.artist(demo.catalog.user("cleo").followed[0]),
    "followed": lambda client, demo: client.followed_artists_page(None),
    "saved tracks": lambda client, demo: client.saved_tracks_page(0),
    "saved albums": lambda client, demo: client.saved_albums_page(0),
}
LIBRARY_CALLS = ("followed", "saved tracks", "saved albums")

# What to tell the demo, the error expected, and how many API requests that takes (a rate
# limit of one lets a first request through).
REFUSALS: dict[str, tuple[dict[str, Any], type[SpotifyError], int]] = {
    "rate limit": ({"rate_limit": 1, "rate_window_s": 30}, RateLimited, 2),
    "daily quota": ({"daily_quota": 1}, RateLimited, 2),
    "server error": ({"fault_rate": 1}, ServerError, 1),
    "stall": ({"timeout_rate": 1, "timeout_seconds": STALL_S}, SpotifyTimeout, 1),
    "truncated answer": ({"truncate_rate": 1}, BadResponse, 1),
}


def assert_no_token_in(error: BaseException, token: str) -> None:
    """Neither the error nor anything in its chain of causes shows the token."""
    cause: BaseException | None = error
    while cause is not None:
        assert token not in str(cause) and token not in repr(cause)
        cause = cause.__cause__ or cause.__context__


@pytest.mark.parametrize("refusal", REFUSALS)
@pytest.mark.parametrize("call", CALLS)
def test_every_call_gives_the_typed_error_of_every_demo_fault(
    demo_spotify: DemoSpotify, demo_settings: Settings, call: str, refusal: str
) -> None:
    changes, expected, requests_made = REFUSALS[refusal]
    token = demo_spotify.token_for("cleo")
    # A short timeout only where the answer stalls, so that the test does not wait it out:
    # every answer that comes has the usual 5 s, which a loaded machine may need.
    timeout = 0.3 if expected is SpotifyTimeout else demo_settings.spotify_timeout
    client = SpotifyClient(demo_settings.but(spotify_timeout=timeout), token)
    demo_spotify.set_faults(**changes)
    if requests_made == 2:
        client.me()  # the one request the limit lets through
    with pytest.raises(SpotifyError) as caught:
        CALLS[call](client, demo_spotify)
    assert type(caught.value) is expected
    assert api_requests(demo_spotify) == requests_made  # spotipy did not retry
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after >= 1 and caught.value.host_kind == "api"
    if isinstance(caught.value, ServerError):
        assert caught.value.status in (500, 502, 503)
    assert_no_token_in(caught.value, token)


@pytest.mark.parametrize("call", CALLS)
def test_every_call_with_an_expired_token_needs_reauth(
    demo_spotify: DemoSpotify, demo_settings: Settings, call: str
) -> None:
    token = demo_spotify.token_for("cleo", expires_in=0)
    with pytest.raises(NeedsReauth) as caught:
        CALLS[call](SpotifyClient(demo_settings, token), demo_spotify)
    assert api_requests(demo_spotify) == 1
    assert_no_token_in(caught.value, token)


@pytest.mark.parametrize("call", LIBRARY_CALLS)
def test_every_library_call_without_its_scope_is_rejected_with_403(
    demo_spotify: DemoSpotify, demo_settings: Settings, call: str
) -> None:
    token = demo_spotify.token_for("cleo", scope="user-read-private")
    with pytest.raises(RequestRejected) as caught:
        CALLS[call](SpotifyClient(demo_settings, token), demo_spotify)
    assert caught.value.status == 403
    assert api_requests(demo_spotify) == 1


def test_a_query_the_demo_refuses_is_rejected_with_400(
    demo_spotify: DemoSpotify, client: SpotifyClient
) -> None:
    with pytest.raises(RequestRejected) as bad_cursor:
        client.followed_artists_page("not-a-cursor")
    with pytest.raises(RequestRejected) as bad_limit:
        client.saved_tracks_page(0, limit=51)
    assert (bad_cursor.value.status, bad_limit.value.status) == (400, 400)
    assert api_requests(demo_spotify) == 2


def test_an_id_that_is_not_base62_is_rejected_with_400_without_asking_spotify(
    demo_spotify: DemoSpotify, client: SpotifyClient
) -> None:
    # spotipy checks the id itself; Spotify would have answered 400 too.
    with pytest.raises(RequestRejected) as caught:
        client.artist("not an id/..")
    assert caught.value.status == 400
    assert api_requests(demo_spotify) == 0


def test_an_app_token_asking_for_a_user_profile_needs_reauth(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    # A client-credentials token has no user: Spotify answers 401 to /me, not to an artist.
    client = SpotifyClient(demo_settings, demo_spotify.token_for(APP_USER, scope=""))
    with pytest.raises(NeedsReauth):
        client.me()
    assert client.artist(demo_spotify.catalog.user("cleo").followed[0])["type"] == "artist"
    assert api_requests(demo_spotify) == 2
