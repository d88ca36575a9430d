"""The overlap of a group's libraries (two to five people), as one SQL statement.

A group page polls this while the members' syncs land, so it is one fixed statement on
the ``user_artist`` (user_id, artist_id, source) index, the same text on SQLite and
PostgreSQL. It counts each artist's holders once: ``held`` gives every artist of the
members one row with a bit mask of who has it (member ``i`` is bit ``1 << i``), and
everything else comes from those rows:

- how many artists each mask has (at most 31 masks), from which every figure follows in
  Python: each member's count, each pair's shared count and match, everyone, all but one;
- the few artist rows the page shows: the rarest of each member's own (mask of one bit),
  the rarest everyone has, the rarest all but one have, and one page of the artists two
  or more hold, most holders first, then rarest.

Why this shape (bench/group_compare.py measures it): grouping the members' links by
artist is most of the cost, so it is done once (``held`` is materialized); ``+ 0`` on the
grouped column keeps SQLite on the per-person index (grouping by the bare column made it
walk the whole ``user_artist_artist_id`` index, every person's rows, five times slower);
and the listener counts are joined before the ranking, the artist rows (names, pictures)
only for the rows returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from models.db import database

# The rarest artists shown per section of the page.
DISTINCTIVE_TOP, TOP = 10, 30
MAX_LIMIT = 200


@dataclass(frozen=True)
class GroupArtist:
    """One artist as the group sees it: who of the group has it (member numbers)."""

    spotify_id: str
    name: str | None
    url: str | None
    image_url: str | None
    monthly_listeners: int | None
    held_by: list[int]
    # No count yet, and still waiting for one this month.
    pending: bool = False


@dataclass(frozen=True)
class Pair:
    """Two members' shared artists and their match, the two-person page's figure."""

    a: int
    b: int
    shared: int
    match: float


@dataclass(frozen=True)
class GroupReport:
    """Everything a group page shows, for one page of the artists two or more hold."""

    # Each counted member's number and how many artists they have.
    counts: dict[int, int]
    pairs: list[Pair]
    everyone_count: int
    all_but_one_count: int
    artists_count: int
    pending: int
    everyone: list[GroupArtist]
    all_but_one: list[GroupArtist]
    distinctive: dict[int, list[GroupArtist]]
    distinctive_counts: dict[int, int]
    artists: list[GroupArtist]
    limit: int
    offset: int
    # Members not counted (not joined) are in no figure: nothing of theirs is read.
    members: list[int] = field(default_factory=list)


def match_of(shared: int, count_a: int, count_b: int) -> float:
    """The two-person page's headline (``Comparison.match``): the share of the smaller
    library found in the other one, 0 when either has none."""
    smaller = min(count_a, count_b)
    return shared / smaller if smaller else 0.0


_NULL_ML = 'CASE WHEN "r"."ml" IS NULL THEN 1 ELSE 0 END'
_RAREST = f'{_NULL_ML}, "r"."ml", "r"."aid"'
# {p}: the driver's parameter mark; {case}: one "WHEN user THEN bit" per member; {ids}:
# the members' marks. Parameters, in order: the members (for the case), the members (for
# the IN), the month, then the cut-offs (see ``_cutoffs``).
_SQL = (
    "WITH held AS MATERIALIZED ("
    'SELECT "artist_id" + 0 AS aid, SUM(DISTINCT CASE "user_id" {case} END) AS mask, '
    'COUNT(DISTINCT "user_id") AS n '
    'FROM "user_artist" WHERE "user_id" IN ({ids}) GROUP BY "artist_id" + 0'
    "), counted AS ("
    'SELECT "h"."aid" AS aid, "h"."mask" AS mask, "h"."n" AS n, '
    '"l"."monthly_listeners" AS ml, '
    # Only the artists two or more hold are waited for (the shared-first jobs bring them).
    'CASE WHEN "h"."n" >= 2 AND "l"."artist_id" IS NULL AND NOT EXISTS ('
    'SELECT 1 FROM "artist" AS g WHERE "g"."id" = "h"."aid" AND "g"."gone_at" IS NOT NULL'
    ") THEN 1 ELSE 0 END AS pending "
    'FROM held AS h LEFT JOIN "artist_listeners" AS l '
    'ON "l"."artist_id" = "h"."aid" AND "l"."month" = {p}'
    "), by_mask AS ("
    'SELECT "r".*, ROW_NUMBER() OVER w AS in_mask, '
    "COUNT(*) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS mask_count, "
    'SUM("r"."pending") OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) '
    "AS mask_pending "
    f'FROM counted AS r WINDOW w AS (PARTITION BY "r"."mask" ORDER BY {_RAREST})'
    "), shared AS ("
    f'SELECT "r".*, ROW_NUMBER() OVER (PARTITION BY "r"."n" ORDER BY {_RAREST}) AS in_n, '
    f'ROW_NUMBER() OVER (ORDER BY "r"."n" DESC, {_RAREST}) AS rank '
    'FROM by_mask AS r WHERE "r"."n" >= 2'
    "), picked AS ("
    'SELECT "aid", "mask", "n", "ml", "pending", "mask_count", "mask_pending", "in_mask", '
    '"in_n", "rank" FROM shared '
    'WHERE "in_mask" = 1 OR ("n" >= {p} AND "in_n" <= {p}) OR ("rank" > {p} AND "rank" <= {p}) '
    "UNION ALL "
    'SELECT "aid", "mask", "n", "ml", "pending", "mask_count", "mask_pending", "in_mask", '
    'NULL, NULL FROM by_mask WHERE "n" = 1 AND "in_mask" <= {p}'
    ") "
    'SELECT "k".*, "a"."spotify_id", "a"."name", "a"."url", "a"."image_url" '
    'FROM picked AS k JOIN "artist" AS a ON "a"."id" = "k"."aid" '
    'ORDER BY "k"."n" DESC, "k"."rank", "k"."mask", "k"."in_mask"'
)


def _statement(members: int) -> str:
    p = database.param
    return _SQL.format(
        p=p,
        case=" ".join(f"WHEN {p} THEN {1 << i}" for i in range(members)),
        ids=", ".join([p] * members),
    )


def _cutoffs(members: int, limit: int, offset: int) -> tuple[int, ...]:
    # Everyone and all-but-one share one cut: the rarest TOP of each holder count from
    # members - 1 up (only everyone for a pair, whose "all but one" is one person alone).
    return (max(2, members - 1), TOP, offset, offset + limit, DISTINCTIVE_TOP)


def group_report(
    members: Sequence[tuple[int, int]], month: str, *, limit: int = 50, offset: int = 0
) -> GroupReport:
    """The overlap of these members' libraries for one month; ``members`` are
    (member number, user id) pairs of the people who joined, numbered inside the group."""
    if offset < 0:
        raise ValueError("offset must not be negative")
    limit = max(1, min(MAX_LIMIT, limit))
    numbers = [number for number, _ in members]
    rows = _run(members, month, limit, offset) if members else []
    return _report(numbers, rows, limit, offset)


def _run(
    members: Sequence[tuple[int, int]], month: str, limit: int, offset: int
) -> list[tuple[Any, ...]]:
    user_ids = [user_id for _, user_id in members]
    params = (*user_ids, *user_ids, month, *_cutoffs(len(members), limit, offset))
    rows: list[tuple[Any, ...]] = database.execute_sql(_statement(len(members)), params).fetchall()
    return rows


def _report(
    numbers: list[int], rows: list[tuple[Any, ...]], limit: int, offset: int
) -> GroupReport:
    """The figures and lists from the statement's rows."""
    k = len(numbers)
    full = (1 << k) - 1

    def holders(mask: int) -> list[int]:
        return [numbers[i] for i in range(k) if mask >> i & 1]

    mask_counts: dict[int, int] = {}
    pending = 0
    everyone: list[GroupArtist] = []
    all_but_one: list[GroupArtist] = []
    artists: list[GroupArtist] = []
    distinctive: dict[int, list[GroupArtist]] = {n: [] for n in numbers}
    for row in rows:
        _aid, mask, n, ml, row_pending, m_count, m_pending, in_mask, in_n, rank = row[:10]
        sid, name, url, image = row[10:]
        if in_mask == 1:
            mask_counts[mask] = m_count
            pending += m_pending if n >= 2 else 0
        artist = GroupArtist(sid, name, url, image, ml, holders(mask), bool(row_pending))
        if n == 1:
            if in_mask <= DISTINCTIVE_TOP:
                distinctive[holders(mask)[0]].append(artist)
            continue
        if in_n is not None and in_n <= TOP:
            if mask == full:
                everyone.append(artist)
            elif n == k - 1:
                all_but_one.append(artist)
        if rank is not None and offset < rank <= offset + limit:
            artists.append(artist)
    return _figures(numbers, mask_counts, pending, everyone, all_but_one, distinctive, artists,
                    limit, offset)  # fmt: skip


def _figures(
    numbers: list[int],
    mask_counts: dict[int, int],
    pending: int,
    everyone: list[GroupArtist],
    all_but_one: list[GroupArtist],
    distinctive: dict[int, list[GroupArtist]],
    artists: list[GroupArtist],
    limit: int,
    offset: int,
) -> GroupReport:
    k = len(numbers)
    full = (1 << k) - 1
    bits = {number: 1 << i for i, number in enumerate(numbers)}

    def having(*wanted: int) -> int:
        need = sum(bits[w] for w in wanted)
        return sum(c for mask, c in mask_counts.items() if mask & need == need)

    counts = {number: having(number) for number in numbers}
    pairs = []
    for a, b in combinations(numbers, 2):
        shared = having(a, b)
        pairs.append(Pair(a, b, shared, match_of(shared, counts[a], counts[b])))
    sizes = {mask: bin(mask).count("1") for mask in mask_counts}
    return GroupReport(
        counts=counts,
        pairs=pairs,
        everyone_count=mask_counts.get(full, 0) if k >= 2 else 0,
        all_but_one_count=(
            sum(c for m, c in mask_counts.items() if sizes[m] == k - 1) if k >= 3 else 0
        ),
        artists_count=sum(c for m, c in mask_counts.items() if sizes[m] >= 2),
        pending=pending,
        everyone=everyone if k >= 2 else [],
        all_but_one=all_but_one,
        distinctive=distinctive,
        distinctive_counts={n: mask_counts.get(bits[n], 0) for n in numbers},
        artists=artists,
        limit=limit,
        offset=offset,
        members=numbers,
    )


def group_report_from_dict(data: dict[str, Any]) -> GroupReport:
    """A ``GroupReport`` back from ``dataclasses.asdict`` (as cached in JSON, whose object
    keys are strings: the member numbers are made ints again)."""

    def artists(rows: list[dict[str, Any]]) -> list[GroupArtist]:
        return [GroupArtist(**row) for row in rows]

    return GroupReport(
        **{
            **data,
            "counts": {int(n): c for n, c in data["counts"].items()},
            "pairs": [Pair(**row) for row in data["pairs"]],
            "everyone": artists(data["everyone"]),
            "all_but_one": artists(data["all_but_one"]),
            "distinctive": {int(n): artists(rows) for n, rows in data["distinctive"].items()},
            "distinctive_counts": {int(n): c for n, c in data["distinctive_counts"].items()},
            "artists": artists(data["artists"]),
        }
    )
