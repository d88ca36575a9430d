"""sync_artist: an artist's name, picture and listeners come from its page; the Web API is
asked only when the page has no artist head."""

from __future__ import annotations

import threading

from actors.testing import wait_for
from models import Artist, ArtistListeners
from models.artist import ArtistFields
from sync.artists import UP_TO_DATE, UPDATED, sync_artist
from sync.context import SyncContext


def api_and_page_requests(demo_spotify) -> tuple[int, int]:
    counts = demo_spotify.stats()["requests"]
    return counts["api"], counts["open"]


def test_a_new_artist_is_completed_from_its_page_alone(db, app_settings, demo_spotify):
    artist = next(a for a in demo_spotify.catalog.artists if a.has_image and a.listeners_shown)

    assert sync_artist(SyncContext(settings=app_settings), artist.id) == UPDATED

    row = Artist.get(Artist.spotify_id == artist.id)
    assert (row.name, row.details_complete) == (artist.name, True)
    assert row.image_url.endswith(f"/image/{artist.id}/640.jpg")
    assert row.url == f"{app_settings.spotify_open_url}/artist/{artist.id}"
    assert ArtistListeners.get(ArtistListeners.artist == row.id).monthly_listeners == (
        artist.listeners
    )
    assert api_and_page_requests(demo_spotify) == (0, 1)


def test_an_artist_without_a_picture_is_complete_without_asking_the_web_api(
    db, app_settings, demo_spotify
):
    artist = next(a for a in demo_spotify.catalog.artists if not a.has_image)
    # Known from a saved track: a name and a link, but no picture and not complete.
    Artist.upsert_many([ArtistFields(artist.id, artist.name, "https://x.test/a", None, False)])

    assert sync_artist(SyncContext(settings=app_settings), artist.id) == UPDATED

    row = Artist.get(Artist.spotify_id == artist.id)
    assert (row.image_url, row.details_complete, row.url) == (None, True, "https://x.test/a")
    assert api_and_page_requests(demo_spotify) == (0, 1)


def test_a_page_without_its_artist_head_falls_back_to_the_web_api(db, app_settings, demo_spotify):
    demo_spotify.set_faults(bare_page_rate=1)
    artist = next(a for a in demo_spotify.catalog.artists if a.has_image and a.listeners_shown)

    assert sync_artist(SyncContext(settings=app_settings), artist.id) == UPDATED

    row = Artist.get(Artist.spotify_id == artist.id)
    assert (row.name, row.details_complete) == (artist.name, True)
    assert row.image_url is not None
    assert api_and_page_requests(demo_spotify) == (1, 1)


def test_an_artist_asked_for_twice_at_once_has_its_page_read_once(
    db, app_settings, demo_spotify, redis_client, namespace
):
    # Given a sync's update_artist reading an artist's page, which takes a second,
    demo_spotify.set_faults(latency_ms=1000)
    ctx = SyncContext.build(app_settings.but(redis_namespace=namespace), redis_client)
    artist = next(a for a in demo_spotify.catalog.artists if a.listeners_shown)
    outcomes = {}
    first = threading.Thread(target=lambda: outcomes.update(first=sync_artist(ctx, artist.id)))
    first.start()
    wait_for(lambda: api_and_page_requests(demo_spotify)[1] == 1, timeout=10, what="the read")

    # when an open comparison's update_shared_artist asks for the same artist meanwhile,
    outcomes["second"] = sync_artist(ctx, artist.id)
    first.join(10)

    # then the second waits for the first's count instead of reading the page again.
    assert outcomes == {"first": UPDATED, "second": UP_TO_DATE}
    assert api_and_page_requests(demo_spotify) == (0, 1)
    row = ArtistListeners.get(ArtistListeners.artist == Artist.get(spotify_id=artist.id).id)
    assert row.monthly_listeners == artist.listeners


def test_an_artist_counted_between_the_check_and_the_claim_is_not_read_again(
    db, app_settings, demo_spotify, redis_client, namespace
):
    ctx = SyncContext.build(app_settings.but(redis_namespace=namespace), redis_client)
    artist = next(a for a in demo_spotify.catalog.artists if a.listeners_shown)
    reads = ctx.reads
    assert reads is not None

    class OtherReaderFinishesFirst:
        """The claims, but another message reads and stores the artist, and lets its claim
        go, just before this one asks: after its up-to-date check, before its claim."""

        def claim(self, spotify_id):
            assert sync_artist(SyncContext(settings=app_settings), spotify_id) == UPDATED
            return reads.claim(spotify_id)

    ctx.reads = OtherReaderFinishesFirst()

    # The claim is free at once, yet the artist is up to date by then: no second read (a
    # paused gate would otherwise defer a message for an artist already counted).
    assert sync_artist(ctx, artist.id) == UP_TO_DATE
    assert api_and_page_requests(demo_spotify) == (0, 1)
