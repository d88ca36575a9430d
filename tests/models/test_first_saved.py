"""Who saved an artist first, against dates computed in plain Python."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Artist, User, UserArtist
from models.artist import ArtistFields
from models.db import utcnow
from models.first_saved import FirstSave, first_saves

DAY = dt.datetime(2021, 3, 4, 9, 30)
SAVED = ("saved_track", "saved_album")


def artists(n: int) -> list[int]:
    ids = Artist.upsert_many([ArtistFields(f"{i:022d}", f"A{i}", "u", None) for i in range(n)])
    return sorted(ids.values())


def people(n: int) -> list[int]:
    return [User.create(spotify_id=f"p{i}", display_name=f"P{i}").id for i in range(n)]


def test_the_first_saver_is_the_earliest_date_of_any_saved_source(db):
    a, b = artists(2)
    ana, ben = people(2)
    UserArtist.link_many(ana, [a, b], "saved_track", {a: DAY, b: DAY + dt.timedelta(days=40)})
    UserArtist.link_many(ana, [b], "saved_album", {b: DAY - dt.timedelta(days=400)})
    UserArtist.link_many(ben, [a, b], "saved_album", {a: DAY - dt.timedelta(days=3), b: DAY})

    found = first_saves([ana, ben], [a, b])

    assert found[a] == FirstSave(ben, DAY - dt.timedelta(days=3), (ben,))
    assert found[b] == FirstSave(ana, DAY - dt.timedelta(days=400), (ana,))


def test_two_people_who_saved_it_on_the_same_day_both_count(db):
    (a,) = artists(1)
    ana, ben = people(2)
    UserArtist.link_many(ana, [a], "saved_track", {a: DAY.replace(hour=23)})
    UserArtist.link_many(ben, [a], "saved_album", {a: DAY.replace(hour=1)})

    found = first_saves([ana, ben], [a])[a]

    assert found is not None
    assert (found.user_id, found.saved_at, found.same_day) == (ben, DAY.replace(hour=1), (ben, ana))


def test_following_gives_no_date_and_nobody_saving_gives_none(db):
    a, b = artists(2)
    ana, ben = people(2)
    UserArtist.link_many(ana, [a, b], "followed")
    UserArtist.link_many(ben, [a], "followed")
    UserArtist.link_many(ben, [b], "saved_track", {b: DAY})

    found = first_saves([ana, ben], [a, b])

    assert found[a] is None
    # Ana follows b and has followed it for who knows how long: only Ben has a date.
    assert found[b] == FirstSave(ben, DAY, (ben,))


def test_a_new_sync_replaces_a_date_and_keeps_the_earliest_it_read(db):
    (a,) = artists(1)
    (ana,) = people(1)
    UserArtist.link_many(ana, [a], "saved_track", {a: DAY})
    # A second page of the same sync, earlier: the earlier one stays.
    UserArtist.link_many(ana, [a], "saved_track", {a: DAY - dt.timedelta(days=9)})
    assert first_saves([ana], [a])[a].saved_at == DAY - dt.timedelta(days=9)
    # The next sync reads only a later save (the early track was removed): it replaces the
    # old date, then a later page of that sync cannot push it back up.
    started = utcnow()
    UserArtist.update(seen_at=started - dt.timedelta(hours=1)).execute()
    UserArtist.link_many(ana, [a], "saved_track", {a: DAY + dt.timedelta(days=5)}, started)
    UserArtist.link_many(ana, [a], "saved_track", {a: DAY + dt.timedelta(days=7)}, started)

    assert first_saves([ana], [a])[a].saved_at == DAY + dt.timedelta(days=5)


LIBRARY = st.dictionaries(
    st.integers(0, 11),
    st.dictionaries(
        st.sampled_from(("followed", *SAVED)),
        st.lists(st.integers(0, 4), min_size=1, max_size=3),
        min_size=1,
    ),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(libraries=st.lists(LIBRARY, min_size=2, max_size=5))
def test_first_saves_agree_with_python_on_random_libraries(db, libraries):
    """Each person has some of 12 artists from sources with a few save dates each (days
    0 to 4, hours apart); the first saver and the same-day savers match plain Python."""
    UserArtist.delete().execute()
    User.delete().execute()
    ids = artists(12)
    users = people(len(libraries))
    truth: dict[int, dict[int, dt.datetime]] = {}
    for user, library in zip(users, libraries, strict=True):
        for artist, by_source in library.items():
            for source, days in by_source.items():
                dates = [DAY + dt.timedelta(days=d, hours=3 * i) for i, d in enumerate(days)]
                added = {ids[artist]: min(dates)} if source in SAVED else None
                UserArtist.link_many(user, [ids[artist]], source, added)
                if source in SAVED:
                    earliest = truth.setdefault(ids[artist], {}).get(user, min(dates))
                    truth[ids[artist]][user] = min(earliest, min(dates))

    found = first_saves(users, ids)

    for artist in ids:
        dated = sorted((when, user) for user, when in truth.get(artist, {}).items())
        if not dated:
            assert found[artist] is None
            continue
        when, user = dated[0]
        same = tuple(u for w, u in dated if w.date() == when.date())
        assert found[artist] == FirstSave(user, when, same)
