"""A token's whole life: Spotify may end an access token before its announced expiry (a
401), and a person may remove the app at Spotify. A 401 renews the token once and the sync
goes on; only a refused refresh asks the person to sign in again, and then nobody calls
Spotify for them until they do."""

from __future__ import annotations

import pytest

from models import JobRun, User
from spotify.errors import NeedsReauth
from sync.context import SyncContext
from sync.users import sync_if_needed, sync_user

TOKEN_ROUTE = "POST /accounts/api/token"


class AfterFirstPage:
    """Stands in for the artist sender; after the first stored page it does ``then`` once,
    so that what Spotify does to the tokens happens in the middle of the sync."""

    def __init__(self, then) -> None:
        self.then = then
        self.calls = 0

    def __call__(self, spotify_ids) -> int:
        self.calls += 1
        if self.calls == 1:
            self.then()
        return len(list(spotify_ids))


def token_requests(demo_spotify) -> int:
    return demo_spotify.stats()["routes"].get(TOKEN_ROUTE, 0)


def api_requests(demo_spotify) -> int:
    return demo_spotify.stats()["requests"]["api"]


def test_a_token_spotify_ends_in_the_middle_of_a_sync_is_renewed_once_and_the_sync_finishes(
    sign_in, db, app_settings, demo_spotify
):
    user = sign_in("ben")  # 43 pages: the page threads all meet the 401 together
    before = user.load_token()["access_token"]
    ctx = SyncContext(
        settings=app_settings, send_artists=AfterFirstPage(lambda: demo_spotify.expire("ben"))
    )

    result = sync_user(ctx, User.get_by_id(user.id))

    user = User.get_by_id(user.id)
    assert not user.needs_reauth
    assert user.last_synced_at is not None
    assert result.pages_loaded == 24 + 16 + 3
    assert user.load_token()["access_token"] != before
    assert token_requests(demo_spotify) == 1  # one refresh, shared by the threads


def test_a_refresh_token_revoked_in_the_middle_of_a_sync_asks_to_sign_in_and_stops_all_calls(
    sign_in, db, app_settings, demo_spotify
):
    user = sign_in("ben")
    # Removing the app at Spotify ends the access token and the refresh token at once.
    ctx = SyncContext(
        settings=app_settings, send_artists=AfterFirstPage(lambda: demo_spotify.revoke("ben"))
    )

    with pytest.raises(NeedsReauth):
        sync_user(ctx, User.get_by_id(user.id))

    user = User.get_by_id(user.id)
    assert user.needs_reauth
    assert user.last_synced_at is None
    assert token_requests(demo_spotify) == 1  # the refresh was tried once, then given up

    spent = api_requests(demo_spotify)
    assert sync_if_needed(ctx, user, force=True) is None
    assert JobRun.select().count() == 0
    with pytest.raises(NeedsReauth):
        sync_user(ctx, user)
    assert api_requests(demo_spotify) == spent
    assert token_requests(demo_spotify) == 1


def test_the_apps_own_token_ended_early_is_fetched_again(app_settings, demo_spotify):
    ctx = SyncContext(settings=app_settings)
    [first, second] = demo_spotify.catalog.user("cleo").followed[:2]
    assert ctx.app_client().artist(first)["id"] == first

    demo_spotify.expire("")  # the app's client-credentials tokens

    assert ctx.app_client().artist(second)["id"] == second
    assert token_requests(demo_spotify) == 2
    assert demo_spotify.stats()["routes"]["GET /v1/artists/<artist_id>"] == 3
