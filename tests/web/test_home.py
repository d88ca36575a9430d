"""The home page: who is signed in, their friend code, their sync and their artists; the
refresh button, sign-out and deleting one's data. Every POST needs the CSRF token."""

from __future__ import annotations

import datetime as dt
import re

from actors.testing import assert_enqueued_with, enqueued
from models import Artist, ArtistListeners, JobRun, User, UserArtist
from models.artist import ArtistFields
from models.db import utcnow


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def synced(spotify_id: str, artists: list[ArtistFields], source: str = "followed") -> User:
    user = User.get(User.spotify_id == spotify_id)
    ids = Artist.upsert_many(artists)
    UserArtist.link_many(user.id, ids.values(), source)
    User.update(last_synced_at=utcnow()).where(User.id == user.id).execute()
    JobRun.update(status="succeeded").execute()
    return user


def test_home_shows_the_friend_code_link_and_artists_with_escaped_names(web, signed_in_web):
    signed_in_web("cleo")
    user = synced(
        "cleo",
        [
            ArtistFields("a" * 22, '<b>Bold</b> & "Co"', "https://x/a", None, True),
            ArtistFields("b" * 22, "Zoë", "https://x/b", None, True),
        ],
    )
    ArtistListeners.record(Artist.get(spotify_id="a" * 22).id, 1234567)

    page = web.get("/")

    assert user.friend_code in page.text
    assert f"/compare/{user.friend_code}" in page.text
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &#34;Co&#34;" in page.text
    assert "<b>Bold</b>" not in page.text
    assert "1,234,567" in page.text
    assert "pending" in page.text  # Zoë has no count yet
    assert page.text.index("&lt;b&gt;Bold") < page.text.index("Zoë")  # sorted by name


def test_artists_sort_by_listeners_and_page_fifty_at_a_time(web, signed_in_web):
    signed_in_web("cleo")
    fields = [ArtistFields(f"{i:022d}", f"Artist {i:03}", "u", None, True) for i in range(60)]
    synced("cleo", fields)
    for i in range(60):
        ArtistListeners.record(Artist.get(spotify_id=f"{i:022d}").id, 1000 - i)

    first = web.get("/", params={"sort": "listeners"})
    second = web.get("/", params={"sort": "listeners", "page": 2})

    assert first.text.index("Artist 059") < first.text.index("Artist 050")
    assert "Artist 009" not in first.text and "Artist 000" in second.text
    assert "page 2 of 2" in second.text


def test_a_bad_sort_or_page_is_a_clear_400(web, signed_in_web):
    signed_in_web("cleo")
    for params in ({"sort": "evil;drop"}, {"page": "-1"}, {"page": "x" * 50}):
        response = web.get("/", params=params, expect_errors=True)
        assert response.status_int == 400
        assert "does not exist" in response.text


def test_refresh_queues_a_sync_or_shows_the_one_already_queued(web, signed_in_web, broker):
    signed_in_web("cleo")
    user = synced("cleo", [])
    broker.flush_all()  # the sign-in's own sync is done (see synced)
    # ... and long enough ago that a refresh is allowed (test_refresh_cooldown.py).
    JobRun.update(enqueued_at=utcnow() - dt.timedelta(hours=1)).execute()
    page = web.get("/")

    web.post("/refresh", {"csrf_token": csrf(page)})
    again = web.post("/refresh", {"csrf_token": csrf(page)}, headers={"HX-Request": "true"})

    assert_enqueued_with(broker, "interactive", "update_user", [user.id], count=1)
    assert "waiting to be loaded" in again.text
    assert 'hx-trigger="every 2s"' in again.text


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(web, signed_in_web, broker):
    signed_in_web("cleo")
    synced("cleo", [])
    before = len(enqueued(broker, "interactive"))

    for path in ("/refresh", "/account/delete", "/logout"):
        response = web.post(path, {}, expect_errors=True)
        assert response.status_int == 403
    response = web.post("/refresh", {}, headers={"X-CSRF-Token": "wrong"}, expect_errors=True)

    assert response.status_int == 403
    assert len(enqueued(broker, "interactive")) == before
    assert User.select().count() == 1


def test_the_csrf_header_is_accepted_as_htmx_sends_it(web, signed_in_web):
    signed_in_web("cleo")
    synced("cleo", [])
    token = csrf(web.get("/"))
    response = web.post("/refresh", headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_int == 200


def test_deleting_my_data_removes_me_and_my_links_and_says_how_to_revoke(web, signed_in_web):
    signed_in_web("cleo")
    synced("cleo", [ArtistFields("a" * 22, "A", "u", None, True)])

    page = web.post("/account/delete", {"csrf_token": csrf(web.get("/"))})

    assert "Manage apps" in page.text
    assert User.select().count() == 0
    assert UserArtist.select().count() == 0
    assert Artist.select().count() == 1  # artists are shared facts, not personal data
    assert "Sign in with Spotify" in web.get("/").text


def test_signing_out_forgets_the_session(web, signed_in_web):
    signed_in_web("cleo")
    web.post("/logout", {"csrf_token": csrf(web.get("/"))})
    assert "Sign in with Spotify" in web.get("/").text


def test_the_loading_page_moves_on_by_itself_when_the_sync_is_done(web, signed_in_web):
    signed_in_web("cleo")
    still = web.get("/loading", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in still.text
    synced("cleo", [])

    done = web.get("/loading", headers={"HX-Request": "true"})

    assert done.headers["HX-Redirect"] == "/"


def test_a_user_spotify_refused_is_asked_to_sign_in_again(web, signed_in_web):
    signed_in_web("cleo")
    user = synced("cleo", [])
    user.mark_needs_reauth()
    page = web.get("/")
    assert "Spotify asks you to sign in again" in page.text


def test_unknown_addresses_get_a_friendly_404(web):
    response = web.get("/no/such/page", expect_errors=True)
    assert response.status_int == 404
    assert "There is no page at this address" in response.text
    assert "Traceback" not in response.text


def test_the_home_page_reloads_itself_when_the_sync_it_watched_ends(web, signed_in_web):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    subject = f"user:{cleo.id}"
    JobRun.update(status="running").where(JobRun.subject == subject).execute()

    running = web.get("/sync-status", headers={"HX-Request": "true"})
    JobRun.update(status="succeeded").where(JobRun.subject == subject).execute()
    ended = web.get("/sync-status", headers={"HX-Request": "true"})

    # The list of artists is the old one until the page reloads: htmx reloads it.
    assert "HX-Refresh" not in running.headers and 'hx-trigger="every 2s"' in running.text
    assert ended.headers["HX-Refresh"] == "true"
    assert "HX-Refresh" not in web.get("/sync-status").headers  # not a poll
