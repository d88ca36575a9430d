"""sync_user loads a person's three sources, resumes from its checkpoint, and forgets what
the person no longer has."""

from __future__ import annotations

import math
import threading
import time

import pytest

from jobs.progress import JobProgress
from models import Artist, JobRun, User, UserArtist
from models.artist import ArtistFields
from spotify.paging import CursorPage
from sync.context import SyncContext
from sync.users import (
    FOLLOWED,
    FOLLOWED_STORES,
    SAVED_ALBUM,
    SAVED_TRACK,
    SyncInterrupted,
    _InOrder,
    sync_user,
)

SOURCES = (FOLLOWED, SAVED_TRACK, SAVED_ALBUM)


class Sent(list):
    """Collects the artist ids a sync asks to update, instead of sending messages."""

    def __call__(self, spotify_ids):
        ids = list(spotify_ids)
        self.extend(ids)
        return len(ids)


@pytest.fixture
def ctx(app_settings):
    return SyncContext(settings=app_settings, send_artists=Sent())


def links(user: User, source: str) -> set[str]:
    query = (
        Artist.select(Artist.spotify_id)
        .join(UserArtist)
        .where((UserArtist.user == user.id) & (UserArtist.source == source))
    )
    return {a.spotify_id for a in query}


def new_job(user: User) -> JobRun:
    job, _ = JobRun.open(
        message_id=f"test-{user.id}",
        actor="update_user",
        args=[user.id],
        subject=f"user:{user.id}",
        queue="interactive",
        status="running",
    )
    return job


def test_a_sync_loads_exactly_the_artists_of_each_source(sign_in, db, ctx, demo_spotify):
    user = sign_in("ben")
    job = new_job(user)

    result = sync_user(ctx, user, job=job)

    catalog = demo_spotify.catalog
    for source in SOURCES:
        assert links(user, source) == set(catalog.expected_artist_ids("ben", source)), source
    assert result.artists_by_source == {
        s: len(catalog.expected_artist_ids("ben", s)) for s in SOURCES
    }
    job = JobRun.get_by_id(job.id)
    assert job.totals == {FOLLOWED: 1200, SAVED_TRACK: 800, SAVED_ALBUM: 150}
    assert job.pages_total == 24 + 16 + 3
    assert job.pages_loaded == job.pages_total
    assert User.get_by_id(user.id).last_synced_at is not None
    # Every artist met was new, so every one was asked for, each once.
    every = set().union(*(catalog.expected_artist_ids("ben", s) for s in SOURCES))
    assert sorted(ctx.send_artists) == sorted(every)


def test_an_interrupted_sync_goes_on_from_its_checkpoint(sign_in, db, ctx, demo_spotify):
    user = sign_in("ben")
    job = new_job(user)
    progress = JobProgress(job)

    with pytest.raises(SyncInterrupted):
        sync_user(ctx, user, job=job, should_stop=lambda: progress.current >= 10, progress=progress)
    saved = JobRun.get_by_id(job.id)
    assert 10 <= saved.pages_loaded < saved.pages_total
    remaining = saved.pages_total - saved.pages_loaded
    before = demo_spotify.stats()["requests"]["api"]
    assert saved.api_requests == before  # every request of the first attempt is counted

    result = sync_user(ctx, user, job=saved)

    fetched = demo_spotify.stats()["requests"]["api"] - before
    # The count goes on from the checkpoint: both attempts together.
    assert JobRun.get_by_id(job.id).api_requests == result.api_requests == before + fetched
    # Only the pages not yet loaded are fetched again (no restart from the beginning).
    assert fetched == remaining
    assert JobRun.get_by_id(job.id).pages_loaded == saved.pages_total
    for source in SOURCES:
        assert links(user, source) == set(demo_spotify.catalog.expected_artist_ids("ben", source))


def test_artists_the_person_no_longer_has_disappear_after_a_resync(sign_in, db, ctx, demo_spotify):
    user = sign_in("cleo")
    sync_user(ctx, user)
    ids = Artist.upsert_many([ArtistFields("0" * 22, "Unfollowed Since", "u", None, True)])
    UserArtist.link_many(user.id, ids.values(), FOLLOWED)
    assert "0" * 22 in links(user, FOLLOWED)

    result = sync_user(ctx, user)

    assert "0" * 22 not in links(user, FOLLOWED)
    assert result.links_removed == 1
    assert links(user, FOLLOWED) == set(demo_spotify.catalog.expected_artist_ids("cleo", FOLLOWED))


def test_an_empty_library_syncs_to_nothing(sign_in, db, ctx, demo_spotify):
    user = sign_in("emma")
    result = sync_user(ctx, user)
    assert result.artists_by_source == {FOLLOWED: 0, SAVED_TRACK: 0, SAVED_ALBUM: 0}
    assert User.get_by_id(user.id).last_synced_at is not None


def test_artists_already_up_to_date_are_not_asked_for(sign_in, db, ctx, demo_spotify):
    from models import ArtistListeners

    user = sign_in("cleo")
    sync_user(ctx, user)
    for artist in Artist.select():
        Artist.update(details_complete=True).where(Artist.id == artist.id).execute()
        ArtistListeners.record(artist.id, 1)
    ctx.send_artists.clear()

    sync_user(ctx, user)

    assert ctx.send_artists == []


def test_a_token_spotify_refuses_marks_the_user_for_sign_in(sign_in, db, ctx, demo_spotify):
    from spotify.errors import NeedsReauth

    user = sign_in("cleo")
    token = user.load_token()
    token["access_token"] = "at_forged.token"
    user.save_token(token)
    demo_spotify.revoke("cleo")  # so the refresh after the 401 is refused too

    with pytest.raises(NeedsReauth):
        sync_user(ctx, User.get_by_id(user.id))

    assert User.get_by_id(user.id).needs_reauth


def test_the_next_followed_page_is_asked_for_while_the_last_ones_are_stored(
    sign_in, db, ctx, demo_spotify, monkeypatch
):
    # Given a store of followed artists that takes a while (the round trips of a worker
    # far from its database), and a record of when each page is asked for and stored...
    user = sign_in("ben")
    asked: list[float] = []
    stored: list[float] = []
    at_once = [0, 0]  # stores running now, the most at once
    lock = threading.Lock()
    link_many = UserArtist.link_many

    def slow_link_many(user_id, artist_ids, source, *args, **kwargs):
        if source != FOLLOWED:
            return link_many(user_id, artist_ids, source, *args, **kwargs)
        with lock:
            at_once[0] += 1
            at_once[1] = max(at_once)
        time.sleep(0.1)
        link_many(user_id, artist_ids, source, *args, **kwargs)
        with lock:
            at_once[0] -= 1
            stored.append(time.monotonic())

    monkeypatch.setattr(UserArtist, "link_many", slow_link_many)
    client = ctx.client_for(user)
    ask_page = client.followed_artists_page

    def recorded(after, *args, **kwargs):
        asked.append(time.monotonic())
        return ask_page(after, *args, **kwargs)

    monkeypatch.setattr(client, "followed_artists_page", recorded)
    job = new_job(user)

    sync_user(ctx, user, job=job, client=client)

    # ...every page but the first two is asked for before the page before it is stored
    # (the first is stored before the others are read: it brought the totals),
    pages = math.ceil(JobRun.get_by_id(job.id).totals[FOLLOWED] / 50)
    assert len(asked) == len(stored) == pages > 3
    ahead = [n for n in range(1, pages) if asked[n] < sorted(stored)[n - 1]]
    assert ahead == list(range(2, pages))
    # a few are stored at once, no more than the sync's store threads,
    assert 1 < at_once[1] <= FOLLOWED_STORES
    # and the library is exact, every page counted once.
    assert links(user, FOLLOWED) == set(demo_spotify.catalog.expected_artist_ids("ben", FOLLOWED))
    assert JobRun.get_by_id(job.id).pages_loaded == JobRun.get_by_id(job.id).pages_total


def test_a_followed_page_that_failed_to_store_is_read_again_though_later_ones_were_stored(
    sign_in, db, ctx, demo_spotify, monkeypatch
):
    # Given the store of one followed page failing (its worker's database went away) while
    # the pages after it, stored at the same time, succeed...
    user = sign_in("ben")
    link_many = UserArtist.link_many
    calls = []

    def failing_once(user_id, artist_ids, source, *args, **kwargs):
        if source == FOLLOWED:
            calls.append(1)
            if len(calls) == 5:
                time.sleep(0.2)  # the others go on meanwhile
                raise OSError("the database went away")
        return link_many(user_id, artist_ids, source, *args, **kwargs)

    monkeypatch.setattr(UserArtist, "link_many", failing_once)
    job = new_job(user)
    with pytest.raises(OSError):
        sync_user(ctx, user, job=job)
    saved = JobRun.get_by_id(job.id)
    assert saved.pages_loaded < saved.pages_total

    # ...the next attempt reads that page again from the checkpoint: nothing is skipped,
    # and no page counts twice.
    sync_user(ctx, user, job=saved)
    assert links(user, FOLLOWED) == set(demo_spotify.catalog.expected_artist_ids("ben", FOLLOWED))
    done = JobRun.get_by_id(job.id)
    assert done.pages_loaded == done.pages_total


def test_followed_pages_stored_out_of_order_move_the_checkpoint_in_order():
    pages = [CursorPage(items=[{}], next_after=f"after-{n}", total=150) for n in range(3)]
    in_order = _InOrder()
    marks = [in_order.mark(page, done=n == 2) for n, page in enumerate(pages)]
    cp = {FOLLOWED: {"after": None, "done": False}}

    assert marks[2](cp) == 0  # stored ahead of a gap: the cursor stays
    assert cp[FOLLOWED] == {"after": None, "done": False}
    assert marks[0](cp) == 1
    assert cp[FOLLOWED] == {"after": "after-0", "done": False}
    assert marks[1](cp) == 2  # fills the gap: the cursor moves past both
    assert cp[FOLLOWED] == {"after": "after-2", "done": True}
