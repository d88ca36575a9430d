"""Artists and their monthly listener counts, one row per artist per month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from peewee import (
    EXCLUDED,
    JOIN,
    SQL,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    TextField,
    fn,
)

from models import held_counts
from models.db import BaseModel, database, is_postgres, tuple_rows, utcnow

# A SQLite statement takes at most 32,766 variables; stay far below with a few columns each.
UPSERT_CHUNK = 500


def current_month(now: dt.datetime | None = None) -> str:
    """The month (``YYYY-MM``, UTC) that listener counts are kept for."""
    return (now or utcnow()).strftime("%Y-%m")


@dataclass(frozen=True)
class ArtistFields:
    """What Spotify told us of an artist; ``complete`` when it came from a full artist object."""

    spotify_id: str
    name: str
    url: str | None
    image_url: str | None = None
    complete: bool = False


# Uses the index on artist(spotify_id) and the unique one on artist_listeners(artist_id, month).
_UP_TO_DATE_SQL = (
    'SELECT 1 FROM "artist" AS a JOIN "artist_listeners" AS l '
    'ON l."artist_id" = a."id" AND l."month" = {p} '
    'WHERE a."spotify_id" = {p} AND (a."details_complete" OR a."gone_at" IS NOT NULL) LIMIT 1'
)


# The same test as a column of the upsert's RETURNING, on the row as the upsert left it.
_UP_TO_DATE_RETURNED = (
    '(("artist"."details_complete" OR "artist"."gone_at" IS NOT NULL) AND EXISTS ('
    'SELECT 1 FROM "artist_listeners" AS l WHERE l."artist_id" = "artist"."id" '
    'AND l."month" = %s))'
)


class Artist(BaseModel):
    """An artist as Spotify knows it."""

    spotify_id = CharField(max_length=64, unique=True)
    name = TextField(null=True)
    url = TextField(null=True)
    image_url = TextField(null=True)
    # True once a full artist object (with its images) was read; a saved track only gives
    # the simplified one, which has no images.
    details_complete = BooleanField(default=False)
    # Set when Spotify answered 404: the artist is kept for history but never asked again.
    gone_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    @classmethod
    def upsert_many(cls, artists: Iterable[ArtistFields]) -> dict[str, int]:
        """Insert or update artists and return their row ids by Spotify id.

        What is known is never overwritten by less: an image or a complete flag stays.
        """
        return cls.upsert_checked(artists)[0]

    @classmethod
    def upsert_checked(
        cls, artists: Iterable[ArtistFields], month: str | None = None
    ) -> tuple[dict[str, int], set[str]]:
        """``upsert_many``, and with ``month`` which of them are up to date for it (as
        ``not_up_to_date_among`` tells), in the same statement: across hosts every round
        trip to the database costs the link's delay twice."""
        unique = {a.spotify_id: a for a in artists}
        ids: dict[str, int] = {}
        fresh: set[str] = set()
        returned_columns: list[object] = [cls.id, cls.spotify_id]
        # SQLite 3.40's RETURNING after an upsert answers "gone_at IS NOT NULL" wrongly
        # (1 for a NULL), and a SQLite file has no distance to save: there the check is
        # the query of its own after the upsert.
        in_returning = month is not None and is_postgres()
        if in_returning:
            returned_columns.append(SQL(_UP_TO_DATE_RETURNED, (month,)))
        # Sorted, so that concurrent upserts (a sync's page threads, two users' syncs) lock
        # rows in the same order: PostgreSQL found deadlocks when they met in any order.
        items = sorted(unique.values(), key=lambda a: a.spotify_id)
        now = utcnow()
        for start in range(0, len(items), UPSERT_CHUNK):
            # One statement, so one round trip and atomic by itself: RETURNING gives back
            # the id of every row, inserted or updated (DO UPDATE touches each one).
            returned = (
                cls._upsert(items[start : start + UPSERT_CHUNK], now)
                .returning(*returned_columns)
                .tuples()
                .execute()
            )
            for artist_id, spotify_id, *up_to_date in returned:
                ids[spotify_id] = artist_id
                if up_to_date and up_to_date[0]:
                    fresh.add(spotify_id)
        if month is not None and not in_returning:
            fresh = set(ids) - set(cls.not_up_to_date_among(list(ids), month))
        return ids, fresh

    @classmethod
    def _upsert(cls, chunk: list[ArtistFields], now: dt.datetime) -> Any:
        """The INSERT ... ON CONFLICT of these artists, keeping what is known."""
        rows = [
            {"spotify_id": a.spotify_id, "name": a.name, "url": a.url, "image_url": a.image_url,
             "details_complete": a.complete, "created_at": now, "updated_at": now}
            for a in chunk
        ]  # fmt: skip
        return cls.insert_many(rows).on_conflict(
            conflict_target=[cls.spotify_id],
            update={
                cls.name: EXCLUDED.name,
                cls.url: fn.COALESCE(EXCLUDED.url, cls.url),
                cls.image_url: fn.COALESCE(EXCLUDED.image_url, cls.image_url),
                cls.details_complete: (cls.details_complete | EXCLUDED.details_complete),
                cls.updated_at: EXCLUDED.updated_at,
            },
        )

    @classmethod
    def is_up_to_date(cls, spotify_id: str, month: str | None = None) -> bool:
        """Whether the artist has all its fields and this month's listener row (one query).

        Written as SQL once: this runs for every ``update_artist`` message, and building the
        same query with peewee cost about 0.7 ms of Python per call, more than the query.
        """
        sql = _UP_TO_DATE_SQL.format(p=database.param)
        row = database.execute_sql(sql, (month or current_month(), spotify_id)).fetchone()
        return row is not None

    @classmethod
    def not_up_to_date_among(cls, spotify_ids: list[str], month: str | None = None) -> list[str]:
        """Which of these artists are not up to date for ``month`` (one query per 500)."""
        month = month or current_month()
        fresh: set[str] = set()
        for start in range(0, len(spotify_ids), UPSERT_CHUNK):
            chunk = spotify_ids[start : start + UPSERT_CHUNK]
            query = (
                cls.select(cls.spotify_id)
                .join(
                    ArtistListeners,
                    on=(ArtistListeners.artist == cls.id) & (ArtistListeners.month == month),
                )
                .where(
                    cls.spotify_id.in_(chunk) & (cls.details_complete | cls.gone_at.is_null(False))
                )
            )
            fresh.update(row.spotify_id for row in query)
        return [s for s in spotify_ids if s not in fresh]

    @classmethod
    def outdated_ids(
        cls, month: str, after_id: int = 0, limit: int = 1000
    ) -> list[tuple[int, str]]:
        """One keyset page of ``(id, spotify_id)`` of artists not up to date for ``month``."""
        has_month = ArtistListeners.select(ArtistListeners.id).where(
            (ArtistListeners.artist == cls.id) & (ArtistListeners.month == month)
        )
        query = (
            cls.select(cls.id, cls.spotify_id)
            .where(
                (cls.id > after_id)
                & cls.gone_at.is_null()
                & (~fn.EXISTS(has_month) | ~cls.details_complete)
            )
            .order_by(cls.id)
            .limit(limit)
        )
        return [(row.id, row.spotify_id) for row in query]

    @classmethod
    def outdated_between(
        cls, month: str, after_id: int, upto_id: int, limit: int
    ) -> list[tuple[int, str]]:
        """Up to ``limit`` ``(id, spotify_id)`` of artists not up to date for ``month``
        with ``after_id`` < id <= ``upto_id``, in id order.

        The range bounded on both tables lets PostgreSQL join two id-ordered index ranges
        (a merge or hash join) instead of probing the listener index once per artist as
        the ``NOT EXISTS`` of ``outdated_ids`` does: 1,000,000 artists in 2.7 s on a quiet
        machine, and 0.6 to 0.9 x the old keyset walk side by side under load
        (bench/monthly_refresh.py). The same ``NOT EXISTS`` in windows this wide was
        slower still: its estimate crossed PostgreSQL's JIT threshold, 0.47 s a query.
        """
        listeners = ArtistListeners
        counted = (
            (listeners.artist == cls.id)
            & (listeners.month == month)
            & (listeners.artist > after_id)
            & (listeners.artist <= upto_id)
        )
        query = (
            cls.select(cls.id, cls.spotify_id)
            .join(listeners, JOIN.LEFT_OUTER, on=counted)
            .where(
                (cls.id > after_id)
                & (cls.id <= upto_id)
                & cls.gone_at.is_null()
                & (listeners.id.is_null() | ~cls.details_complete)
            )
            .order_by(cls.id)
            .limit(limit)
        )
        return [(row.id, row.spotify_id) for row in query]

    @classmethod
    def iter_outdated(cls, month: str, chunk: int = 1000) -> Iterator[list[tuple[int, str]]]:
        """Every outdated artist, in keyset pages of ``chunk``, never all in memory."""
        after = 0
        while page := cls.outdated_ids(month, after_id=after, limit=chunk):
            yield page
            after = page[-1][0]


# The few gone artists, for each person's pending count (models/comparison_reads.py).
Artist.add_index(Artist.id, name="artist_gone", where=Artist.gone_at.is_null(False))


class ArtistListeners(BaseModel):
    """An artist's monthly listeners as read in one month.

    A row with no count means the page was read this month and had none to give (or the
    artist is gone), so that nobody asks again before next month.
    """

    artist = ForeignKeyField(Artist, on_delete="CASCADE", backref="listener_counts")
    month = CharField(max_length=7)
    monthly_listeners = BigIntegerField(null=True)
    read_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "artist_listeners"
        indexes = ((("artist", "month"), True),)

    @classmethod
    def record(
        cls, artist_id: int, monthly_listeners: int | None, month: str | None = None
    ) -> None:
        """Store (or replace) the artist's count for the month."""
        month = month or current_month()
        with database.atomic():
            held_counts.spread(artist_id, month, monthly_listeners)
            (
                cls.insert(
                    artist=artist_id,
                    month=month,
                    monthly_listeners=monthly_listeners,
                    read_at=utcnow(),
                )
                .on_conflict(
                    conflict_target=[cls.artist, cls.month],
                    update={
                        cls.monthly_listeners: EXCLUDED.monthly_listeners,
                        cls.read_at: EXCLUDED.read_at,
                    },
                )
                .execute()
            )

    @classmethod
    def history(cls, artist_id: int) -> list[tuple[str, int]]:
        """The artist's known counts, ``(month, listeners)`` oldest first (the unique index
        on (artist_id, month) answers it in order)."""
        query = (
            cls.select(cls.month, cls.monthly_listeners)
            .where((cls.artist == artist_id) & cls.monthly_listeners.is_null(False))
            .order_by(cls.month)
        )
        return [(month, count) for month, count in tuple_rows(query)]
