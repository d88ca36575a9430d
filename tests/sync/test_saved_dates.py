"""A sync keeps when each artist was saved, from the ``added_at`` of the pages it reads."""

from __future__ import annotations

import datetime as dt

import pytest

from models import Artist, User, UserArtist
from models.first_saved import saved_dates
from sync.context import SyncContext
from sync.users import sync_user


@pytest.fixture
def ctx(app_settings):
    return SyncContext(settings=app_settings, send_artists=lambda ids: len(list(ids)))


def catalog_dates(catalog, spotify_id: str) -> dict[str, dt.datetime]:
    """The ground truth: each artist's earliest save among the person's tracks and albums."""
    return {
        artist: dt.datetime.strptime(added, "%Y-%m-%dT%H:%M:%SZ")
        for artist, added in catalog.first_saved_at(spotify_id).items()
    }


def stored_dates(user: User) -> dict[str, dt.datetime]:
    ids = dict(Artist.select(Artist.id, Artist.spotify_id).tuples())
    found = saved_dates([user.id], ids)
    return {ids[artist]: when for (_user, artist), when in found.items()}


def test_each_saved_artist_gets_its_earliest_save_and_followed_only_ones_none(
    sign_in, db, ctx, demo_spotify
):
    user = sign_in("ben")
    before = demo_spotify.stats()["requests"]["api"]

    sync_user(ctx, user)

    truth = catalog_dates(demo_spotify.catalog, "ben")
    assert truth and stored_dates(user) == truth
    followed_only = demo_spotify.catalog.expected_artist_ids("ben", "followed") - set(truth)
    assert followed_only, "ben follows artists he never saved"
    assert not set(stored_dates(user)) & followed_only
    # The dates came with the pages: as many requests as pages, no more.
    pages = 24 + 16 + 3
    assert demo_spotify.stats()["requests"]["api"] - before == pages


def test_a_resync_puts_back_the_true_date_whether_earlier_or_later(sign_in, db, ctx, demo_spotify):
    user = sign_in("ben")
    sync_user(ctx, user)
    truth = catalog_dates(demo_spotify.catalog, "ben")
    earlier, later = sorted(truth)[:2]
    ids = dict(Artist.select(Artist.spotify_id, Artist.id).tuples())
    # As if a track saved long ago had been removed since (the stored date is too early),
    # and as if an older save had been found since (the stored date is too late).
    too_early, too_late = dt.datetime(2001, 1, 1), dt.datetime(2030, 1, 1)
    UserArtist.update(added_at=too_early).where(
        (UserArtist.user == user.id) & (UserArtist.artist == ids[earlier])
        & UserArtist.added_at.is_null(False)
    ).execute()  # fmt: skip
    UserArtist.update(added_at=too_late).where(
        (UserArtist.user == user.id) & (UserArtist.artist == ids[later])
        & UserArtist.added_at.is_null(False)
    ).execute()  # fmt: skip
    assert stored_dates(user)[earlier] == too_early

    sync_user(ctx, user)

    assert stored_dates(user) == truth
