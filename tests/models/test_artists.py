"""Artists, their links to users, and their monthly listener rows."""

from __future__ import annotations

import datetime as dt

import pytest
from peewee import IntegrityError

from models import Artist, ArtistListeners, User, UserArtist, current_month, database
from models.artist import ArtistFields


def test_current_month_is_the_utc_year_and_month():
    assert current_month(dt.datetime(2026, 1, 31, 23, 59)) == "2026-01"


def test_upserting_keeps_what_is_known_and_takes_new_names(db):
    Artist.upsert_many([ArtistFields("a1", "Old", "https://x/a1", "https://img/1", True)])

    ids = Artist.upsert_many([ArtistFields("a1", "New & <Improved>", None, None, False)])

    artist = Artist.get_by_id(ids["a1"])
    assert artist.name == "New & <Improved>"
    assert artist.url == "https://x/a1"
    assert artist.image_url == "https://img/1"
    assert artist.details_complete is True
    assert Artist.select().count() == 1


def test_upserting_many_artists_returns_every_id_once(db):
    fields = [ArtistFields(f"id{i}", f"Artist {i}", None) for i in range(1234)]
    ids = Artist.upsert_many(fields + fields[:10])
    assert len(ids) == 1234
    assert Artist.select().count() == 1234


def test_one_listener_row_per_artist_per_month(db):
    ids = Artist.upsert_many([ArtistFields("a1", "One", "u")])
    ArtistListeners.create(artist=ids["a1"], month="2026-11", monthly_listeners=5)
    with pytest.raises(IntegrityError), database.atomic():
        ArtistListeners.create(artist=ids["a1"], month="2026-11", monthly_listeners=6)


def test_recording_listeners_twice_in_a_month_keeps_the_latest(db):
    ids = Artist.upsert_many([ArtistFields("a1", "One", "u")])
    ArtistListeners.record(ids["a1"], 5, month="2026-11")
    ArtistListeners.record(ids["a1"], 7, month="2026-11")
    rows = list(ArtistListeners.select())
    assert [(r.month, r.monthly_listeners) for r in rows] == [("2026-11", 7)]


def test_an_artist_is_up_to_date_with_its_fields_and_this_months_row(db):
    ids = Artist.upsert_many(
        [
            ArtistFields("full", "Full", "u", "img", True),
            ArtistFields("partial", "Partial", "u"),
            ArtistFields("stale", "Stale", "u", "img", True),
        ]
    )
    ArtistListeners.record(ids["full"], 10)
    ArtistListeners.record(ids["partial"], 10)
    ArtistListeners.record(ids["stale"], 10, month="2000-01")

    assert Artist.is_up_to_date("full")
    assert not Artist.is_up_to_date("partial")
    assert not Artist.is_up_to_date("stale")
    assert not Artist.is_up_to_date("unknown")


def test_the_upsert_tells_which_artists_are_up_to_date_as_the_query_does(db):
    month = "2026-11"
    ids = Artist.upsert_many(
        [ArtistFields(s, s, "u", None, s != "partial") for s in ("full", "partial", "gone", "old")]
    )
    for name in ("full", "partial", "gone"):
        ArtistListeners.record(ids[name], 10, month=month)
    ArtistListeners.record(ids["old"], 10, month="2026-10")
    Artist.update(gone_at=dt.datetime(2026, 1, 1), details_complete=False).where(
        Artist.spotify_id == "gone"
    ).execute()

    # A page that names them again, with less than is known of "full" (a simplified object):
    again = [
        ArtistFields(s, s, "u", None, False) for s in ("full", "partial", "gone", "old", "new")
    ]
    got, up_to_date = Artist.upsert_checked(again, month)

    assert up_to_date == {"full", "gone"}
    assert set(got) - up_to_date == set(Artist.not_up_to_date_among(list(got), month))
    assert Artist.upsert_checked(again)[1] == set()  # no month, no check


def test_a_batch_of_links_that_fails_leaves_no_link_count_or_total_behind(db):
    user = User.sign_in("ana", "Ana", {})
    ids = Artist.upsert_many([ArtistFields("a1", "One", "u")])
    UserArtist.link_many(user.id, ids.values(), "followed")

    with pytest.raises(IntegrityError):
        UserArtist.link_many(user.id, [ids["a1"], 999_999], "saved_track")  # no such artist

    assert user.artist_counts() == {"followed": 1, "saved_track": 0, "saved_album": 0}
    assert User.get_by_id(user.id).saved_track_count == 0
    # The connection is usable again (on PostgreSQL the failed transaction was ended).
    UserArtist.link_many(user.id, ids.values(), "saved_track")
    assert User.get_by_id(user.id).saved_track_count == 1


def test_a_row_without_a_count_still_makes_the_artist_up_to_date(db):
    ids = Artist.upsert_many([ArtistFields("quiet", "Quiet", "u", None, True)])
    ArtistListeners.record(ids["quiet"], None)
    assert Artist.is_up_to_date("quiet")


def test_outdated_artists_come_in_keyset_pages_without_gone_ones(db):
    fields = [ArtistFields(f"id{i:04}", f"A{i}", "u", None, True) for i in range(25)]
    ids = Artist.upsert_many(fields)
    month = "2026-11"
    for i in range(0, 25, 5):  # every fifth is up to date
        ArtistListeners.record(ids[f"id{i:04}"], 1, month=month)
    Artist.update(gone_at=dt.datetime(2026, 1, 1)).where(Artist.spotify_id == "id0001").execute()

    pages = list(Artist.iter_outdated(month, chunk=4))

    found = [spotify_id for page in pages for _, spotify_id in page]
    expected = [f"id{i:04}" for i in range(25) if i % 5 and i != 1]
    assert found == expected
    assert all(len(p) <= 4 for p in pages)


def test_a_user_has_an_artist_once_per_source(db):
    user = User.sign_in("ana", "Ana", {})
    ids = Artist.upsert_many([ArtistFields("a1", "One", "u"), ArtistFields("a2", "Two", "u")])

    UserArtist.link_many(user.id, ids.values(), "followed")
    UserArtist.link_many(user.id, ids.values(), "followed")
    UserArtist.link_many(user.id, [ids["a1"]], "saved_track")

    assert user.artist_counts() == {"followed": 2, "saved_track": 1, "saved_album": 0}
    with pytest.raises(IntegrityError), database.atomic():
        UserArtist.create(user=user, artist=ids["a1"], source="followed")


def test_an_unknown_source_is_refused(db):
    user = User.sign_in("ana", "Ana", {})
    with pytest.raises(ValueError):
        UserArtist.link_many(user.id, [1], "playlists")


def test_sources_of_lists_each_persons_sources_in_order_and_leaves_out_who_lacks_it(db):
    ana, ben, cleo = (User.sign_in(s, s.title(), {}) for s in ("ana", "ben", "cleo"))
    ids = Artist.upsert_many([ArtistFields("a1", "One", "u"), ArtistFields("a2", "Two", "u")])
    UserArtist.link_many(ana.id, [ids["a1"]], "saved_album")
    UserArtist.link_many(ana.id, [ids["a1"]], "followed")
    UserArtist.link_many(ben.id, [ids["a1"]], "saved_track")
    UserArtist.link_many(cleo.id, [ids["a2"]], "followed")

    found = UserArtist.sources_of([ana.id, ben.id, cleo.id], ids["a1"])

    assert found == {ana.id: ["followed", "saved_album"], ben.id: ["saved_track"]}


def test_history_gives_the_known_counts_oldest_first(db):
    artist_id = Artist.upsert_many([ArtistFields("a1", "One", "u")])["a1"]
    ArtistListeners.record(artist_id, 30, month="2026-03")
    ArtistListeners.record(artist_id, None, month="2026-02")
    ArtistListeners.record(artist_id, 10, month="2026-01")

    assert ArtistListeners.history(artist_id) == [("2026-01", 10), ("2026-03", 30)]
