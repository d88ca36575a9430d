"""Who saved an artist first: for a set of people and artists, each artist's first saver.

A person's date for an artist is the earliest ``added_at`` among their saved tracks and
saved albums with that artist, which the sync keeps on each ``user_artist`` link (the
earliest of that source). Following an artist carries no date, so a person who only
follows it has none, and an artist nobody saved has no first saver at all. The two-person
comparison and the group page both ask here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from peewee import fn

from models.db import tuple_rows
from models.user import UserArtist

# More ids than this go to the database in several queries (SQLite's old limit on
# parameters is 999).
_CHUNK = 500


@dataclass(frozen=True)
class FirstSave:
    """The earliest saver of an artist, their date, and who else saved it that same day."""

    user_id: int
    saved_at: dt.datetime
    # Everyone whose date falls on the same UTC day as the first, the first included,
    # earliest first: two or more means a tie on that day.
    same_day: tuple[int, ...]


def saved_dates(
    user_ids: Iterable[int], artist_ids: Iterable[int]
) -> dict[tuple[int, int], dt.datetime]:
    """Each (user, artist)'s date among these: the earliest ``added_at`` of their links
    (a pair without a date, such as a followed-only artist, is left out)."""
    users, artists = sorted(set(user_ids)), sorted(set(artist_ids))
    dates: dict[tuple[int, int], dt.datetime] = {}
    if not users:
        return dates
    for start in range(0, len(artists), _CHUNK):
        query = (
            UserArtist.select(UserArtist.user, UserArtist.artist, fn.MIN(UserArtist.added_at))
            .where(
                UserArtist.user.in_(users)
                & UserArtist.artist.in_(artists[start : start + _CHUNK])
                & UserArtist.added_at.is_null(False)
            )
            .group_by(UserArtist.user, UserArtist.artist)
        )
        for user_id, artist_id, added in tuple_rows(query):
            dates[(user_id, artist_id)] = _as_datetime(added)
    return dates


def first_saves(user_ids: Iterable[int], artist_ids: Iterable[int]) -> dict[int, FirstSave | None]:
    """Every artist id given, with who of these people saved it first and when (None:
    none of them has a date for it)."""
    artists = list(artist_ids)
    dated: dict[int, list[tuple[dt.datetime, int]]] = {a: [] for a in artists}
    for (user_id, artist_id), saved_at in saved_dates(user_ids, artists).items():
        dated[artist_id].append((saved_at, user_id))
    return {artist_id: _first(entries) for artist_id, entries in dated.items()}


def _first(entries: list[tuple[dt.datetime, int]]) -> FirstSave | None:
    if not entries:
        return None
    entries.sort()
    saved_at, user_id = entries[0]
    same_day = tuple(u for when, u in entries if when.date() == saved_at.date())
    return FirstSave(user_id, saved_at, same_day)


def month_words(saved_at: str) -> str:
    """The month of an ISO 8601 date, in words: "2021-03-04T09:30:00Z" is "March 2021"."""
    return dt.datetime.strptime(saved_at[:7], "%Y-%m").strftime("%B %Y")


class SavedMonth:
    """The ``month`` in words of a first save's ``saved_at``, for the pages to show."""

    saved_at: str

    @property
    def month(self) -> str:
        """The month it was first saved, in words: "March 2021"."""
        return month_words(self.saved_at)


def _as_datetime(value: object) -> dt.datetime:
    # MIN() is an aggregate, so peewee hands back what the driver gives: a datetime on
    # PostgreSQL, the stored text on SQLite.
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
