"""The reads ``compare`` makes, on ``held_count`` where it can: few rows visited per call.

Each person's counts of a month lie in order in one range of the (user, month,
monthly_listeners, artist) index of ``held_count`` (models/held_counts.py). So the
histogram is eight counts of adjacent slices of that range, the median one step to its
middle, and the most (or least) listened artists that the other person has (or has not)
are read from its end, checking each against the other's (user, artist) index until the
page is full, instead of sorting every artist. Only the shared totals visit every artist of
one library, once. The artists without a count come after the counted ones in every order
the page uses, so they are read (one pass, sorted by name) only when a page reaches them.
The SQL is the same text on SQLite and PostgreSQL but for the parameter mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.db import database
from models.fields import SOURCES

# Bucket edges of the listener histogram, a power of ten apart: <100, 100-1k, ..., >=100M.
EDGES = (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)

_HELD = '"held_count" WHERE "user_id" = {p} AND "month" = {p}'
_SLICES = [f'"monthly_listeners" < {EDGES[0]}'] + [
    f'"monthly_listeners" >= {low} AND "monthly_listeners" < {high}'
    for low, high in zip(EDGES, EDGES[1:], strict=False)
]
_SLICES.append(f'"monthly_listeners" >= {EDGES[-1]}')
# The person's gone artists that have no row of the month: read from the few gone
# artists' index (migration 0015), never from the person's whole library.
_GONE_UNREAD = (
    '(SELECT COUNT(*) FROM "artist" AS g WHERE "g"."gone_at" IS NOT NULL AND EXISTS ('
    'SELECT 1 FROM "user_artist" AS ua WHERE "ua"."user_id" = {p} AND "ua"."artist_id" = '
    '"g"."id") AND NOT EXISTS (SELECT 1 FROM "held_count" AS r WHERE "r"."user_id" = {p} '
    'AND "r"."artist_id" = "g"."id" AND "r"."month" = {p}))'
)
# A person's totals (kept on their row), their counts per bucket, how many of their rows
# of the month have no count (each a count over one slice of the index range) and how
# many gone artists they have without a row, in one statement.
_PERSON_SQL = (
    'SELECT "artist_count", '
    + ", ".join(f'"{s}_count"' for s in SOURCES)
    + ", "
    + ", ".join(
        f"(SELECT COUNT(*) FROM {_HELD} AND {where})"
        for where in [*_SLICES, '"monthly_listeners" IS NULL']
    )
    + f", {_GONE_UNREAD}"
    + ' FROM "user" WHERE "id" = {p}'
)
_MEDIAN_SQL = (
    f'SELECT "monthly_listeners" FROM {_HELD} AND "monthly_listeners" IS NOT NULL '
    'ORDER BY "monthly_listeners" LIMIT 2 OFFSET {p}'
)
_THEIRS = 'SELECT 1 FROM "user_artist" AS f WHERE "f"."user_id" = {p} AND "f"."artist_id" = '
_NAME_ORDER = 'CASE WHEN "a"."name" IS NULL THEN 1 ELSE 0 END, LOWER("a"."name"), "a"."spotify_id"'
_COLUMNS = '"a"."id", "a"."spotify_id", "a"."name", "a"."url", "a"."image_url"'
# The artists of ``{p}`` (the first user) with their count of the month, if any.
_MINE_WITH_COUNT = (
    'FROM (SELECT DISTINCT "artist_id" FROM "user_artist" WHERE "user_id" = {p}) AS m '
    'JOIN "artist" AS a ON "a"."id" = "m"."artist_id" '
    'LEFT JOIN "held_count" AS h ON "h"."user_id" = {p} AND "h"."artist_id" = "m"."artist_id" '
    'AND "h"."month" = {p} '
)
# Still waiting for update_artist: no row for the month at all (a row without a count was
# read and had none; a gone artist never gets one).
_PENDING = 'CASE WHEN "h"."artist_id" IS NULL AND "a"."gone_at" IS NULL THEN 1 ELSE 0 END'
# Shared artists, those still pending, and those with a count: one pass over one library,
# which looks an artist up only when it has no row of the month (is it gone?).
_SHARED_TOTALS_SQL = (
    'SELECT COUNT(*), COALESCE(SUM(CASE WHEN "h"."artist_id" IS NOT NULL THEN 0 '
    'WHEN (SELECT "g"."gone_at" FROM "artist" AS g WHERE "g"."id" = "m"."artist_id") IS NULL '
    'THEN 1 ELSE 0 END), 0), COUNT("h"."monthly_listeners") '
    'FROM (SELECT DISTINCT "artist_id" FROM "user_artist" WHERE "user_id" = {p}) AS m '
    'LEFT JOIN "held_count" AS h ON "h"."user_id" = {p} AND "h"."artist_id" = "m"."artist_id" '
    'AND "h"."month" = {p} '
    f'WHERE EXISTS ({_THEIRS}"m"."artist_id")'
)
# The counted artists of the first user that the second has (EXISTS) or has not, from
# one end of the index range: the order's first key is the index's, so the database stops
# once the page is full (and sorts only the ties of a count by name).
_COUNTED_SQL = (
    f'SELECT {_COLUMNS}, "h"."monthly_listeners" FROM "held_count" AS h '
    'JOIN "artist" AS a ON "a"."id" = "h"."artist_id" '
    'WHERE "h"."user_id" = {p} AND "h"."month" = {p} AND "h"."monthly_listeners" IS NOT NULL '
    "AND {has} EXISTS (" + _THEIRS + '"h"."artist_id") '
    'ORDER BY "h"."monthly_listeners" {direction}, ' + _NAME_ORDER + " LIMIT {p} OFFSET {p}"
)
# The artists without a count, by name: what comes after every counted one.
_UNCOUNTED_SQL = (
    f"SELECT {_COLUMNS}, NULL, {_PENDING} {_MINE_WITH_COUNT}"
    'WHERE "h"."monthly_listeners" IS NULL AND {has} EXISTS (' + _THEIRS + '"m"."artist_id") '
    f"ORDER BY {_NAME_ORDER} LIMIT {{p}} OFFSET {{p}}"
)
# The count of the earliest month held, for the "grew or fell by more than half" mark.
_EARLIEST_SQL = (
    'SELECT "a"."id", (SELECT "e"."monthly_listeners" FROM "artist_listeners" AS e '
    'WHERE "e"."artist_id" = "a"."id" AND "e"."monthly_listeners" IS NOT NULL '
    'ORDER BY "e"."month" LIMIT 1) FROM "artist" AS a WHERE "a"."id" IN ({ids})'
)


def sql(template: str, **extra: str) -> str:
    """A statement of this module (or models.comparison) with the driver's parameter mark."""
    return template.format(p=database.param, **extra)


def rows(template: str, params: Sequence[object], **extra: str) -> list[tuple[Any, ...]]:
    """The rows of a statement, as tuples."""
    found: list[tuple[Any, ...]] = database.execute_sql(
        sql(template, **extra), tuple(params)
    ).fetchall()
    return found


def person_counts(user_id: int, month: str) -> tuple[int, list[int], list[int], int]:
    """A person's distinct artists, their links per source, their counts per bucket, and
    how many of their artists still wait for this month's count.

    Waiting means no row of the month, and not gone: the artists less those with a row (a
    count or none) less the gone ones without a row. Every link adds its held rows in the
    transaction that counts it (models/held_counts.py), so in one snapshot these agree."""
    params = (user_id, month) * (len(_SLICES) + 1) + (user_id, user_id, month, user_id)
    (row,) = rows(_PERSON_SQL, params)
    total, gone_unread = row[0], row[-1]
    buckets = list(row[1 + len(SOURCES) : -2])
    read = sum(buckets) + row[-2]
    return total, list(row[1 : 1 + len(SOURCES)]), buckets, max(0, total - read - gone_unread)


def median(user_id: int, month: str, known: int) -> int | None:
    """The exact median of a person's ``known`` counts; the mean of the middle two rounds
    down to an int."""
    if not known:
        return None
    middle: list[int] = [n for (n,) in rows(_MEDIAN_SQL, (user_id, month, (known - 1) // 2))]
    return middle[0] if known % 2 else (middle[0] + middle[1]) // 2


def shared_totals(me: int, friend: int, month: str) -> tuple[int, int, int]:
    """How many artists the two share, how many of those are pending, and how many have a
    count of the month."""
    shared, pending, counted = rows(_SHARED_TOTALS_SQL, (me, me, month, friend))[0]
    return int(shared), int(pending), int(counted)


def ordered(
    owner: int, other: int, month: str, *, shared: bool, descending: bool,
    counted: int | None, limit: int, offset: int = 0,
) -> list[tuple[Any, ...]]:  # fmt: skip
    """Rows ``offset`` to ``offset + limit`` of the owner's artists that the other has
    (``shared``) or has not, by count (unknown last), then by name: ``(id, spotify_id,
    name, url, image_url, monthly_listeners, pending)``. ``counted`` is how many of them
    have a count (None: not known, for a first page only)."""
    has = "" if shared else "NOT"
    found: list[tuple[Any, ...]] = []
    if counted is None or offset < counted:
        # Unknown (None) only for a first page: read as far as the counted ones go.
        take = limit if counted is None else min(limit, counted - offset)
        direction = "DESC" if descending else "ASC"
        counted_rows = rows(
            _COUNTED_SQL, (owner, month, other, take, offset), has=has, direction=direction
        )
        found = [(*row, 0) for row in counted_rows]
    if len(found) < limit:
        skip = max(0, offset - counted) if counted is not None else 0
        found += rows(
            _UNCOUNTED_SQL, (owner, owner, month, other, limit - len(found), skip), has=has
        )
    return found


def earliest_counts(artist_ids: Sequence[int]) -> dict[int, int | None]:
    """Each artist's count of the earliest month held (None: no count was ever read)."""
    if not artist_ids:
        return {}
    marks = ", ".join([database.param] * len(artist_ids))
    return {artist: count for artist, count in rows(_EARLIEST_SQL, artist_ids, ids=marks)}
