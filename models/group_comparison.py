"""The overlap of a group's libraries (two to five people): one statement and a pass.

A group page polls this while the members' syncs land. One SQL statement counts each
artist's holders once: it reads the members' links off the ``user_artist`` (user_id,
artist_id, source) index, groups them by artist into a bit mask of who has it (member
``i`` is bit ``1 << i``), and joins this month's listener count. Only the grouping's
text differs between SQLite and PostgreSQL (``_MASKS_SQLITE``, ``_MASKS_POSTGRES``).
One pass in Python over those rows gives everything:

- how many artists each mask has (at most 31), from which every figure follows: each
  member's count, each pair's shared count and match, everyone, all but one;
- the few artists the page shows, picked with ``heapq.nsmallest`` (no full sort):
  the rarest of each member's own, the rarest everyone has, the rarest all but one have,
  and one page of the artists two or more hold, most holders first, then rarest;

and a second query reads the names and pictures of those few, and a third who of the
members saved each of the shown artists two or more hold first (``models.first_saved``),
so the dates are cached with the report and cost one query for the page, not one per
artist nor one over every artist.

Why this shape (bench/group_compare.py measures it): ranking in SQL took window
functions over every artist of the five, three sorts, several times the cost of the
grouping itself; ``+ 0`` on the grouped column keeps SQLite on the per-person index
(grouping by the bare column made it walk the whole ``user_artist_artist_id`` index,
every person's rows, five times slower); and ``SUM(DISTINCT ...)`` built a temporary
tree per artist, which the ``SELECT DISTINCT`` underneath avoids.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Final

from models.db import database, is_postgres
from models.first_saved import FirstSave, SavedMonth, first_saves

# The rarest artists shown per section of the page.
DISTINCTIVE_TOP, TOP = 10, 12
MAX_LIMIT = 200


@dataclass(frozen=True)
class GroupFirst(SavedMonth):
    """Who of the joined members saved an artist first (a member number), and when."""

    member: int
    saved_at: str  # ISO 8601 in UTC, as Spotify writes it: "2021-03-04T09:30:00Z"
    # Everyone who saved it on that same UTC day (member numbers, lowest first): two or
    # more is a tie, and then ``member`` is the lowest of them and ``saved_at`` the first
    # save of that day.
    same_day: list[int] = field(default_factory=list)


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
    # Who saved it first: only for the shown artists two or more hold (None: none of
    # them has a date, as when they only follow it).
    first: GroupFirst | None = None


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


# {p}: the driver's parameter mark; {holders}: the mask's bits added up; {masks}: the
# grouping below. Parameters: the members (for the case), the members (for the IN), the
# month. One row per artist any member has (``Held``): its order, its id, who has it (the
# mask), its count this month, and whether it still waits for that count (no row yet,
# and not gone).
_HELD_SQL = (
    'SELECT -({holders}), CASE WHEN "l"."monthly_listeners" IS NULL THEN 1 ELSE 0 END, '
    'COALESCE("l"."monthly_listeners", 0), "h"."aid", "h"."mask", "l"."monthly_listeners", '
    'CASE WHEN "l"."artist_id" IS NULL AND NOT EXISTS (SELECT 1 FROM "artist" AS g '
    'WHERE "g"."id" = "h"."aid" AND "g"."gone_at" IS NOT NULL) THEN 1 ELSE 0 END '
    "FROM ({masks}) AS h "
    'LEFT JOIN "artist_listeners" AS l ON "l"."artist_id" = "h"."aid" AND "l"."month" = {p}'
)
# Each artist's mask; {case}: one "WHEN user THEN bit" per member; {ids}: the members'
# marks. SQLite: one row per (person, artist) first, read in order off the (user, artist,
# source) index, so the sum needs no DISTINCT (which cost a temporary tree per artist).
_MASKS_SQLITE = (
    'SELECT "artist_id" + 0 AS aid, SUM(CASE "user_id" {case} END) AS mask '
    'FROM (SELECT DISTINCT "user_id", "artist_id" FROM "user_artist" '
    'WHERE "user_id" IN ({ids})) AS d GROUP BY "artist_id" + 0'
)
# PostgreSQL hashed that DISTINCT (44 of its 90 ms); BIT_OR needs none, as a person's
# second and third source set the same bit again (66 against 92 ms in the bench's group).
_MASKS_POSTGRES = (
    'SELECT "artist_id" AS aid, BIT_OR(CASE "user_id" {case} END) AS mask '
    'FROM "user_artist" WHERE "user_id" IN ({ids}) GROUP BY "artist_id"'
)
_DETAILS_SQL = (
    'SELECT "id", "spotify_id", "name", "url", "image_url" FROM "artist" WHERE "id" IN ({ids})'
)


# A row of _HELD_SQL: its order first (minus its holders, whether its count is unknown,
# the count or 0, its id: most holders, then fewest listeners, unknown counts last, then
# by id), then the artist's id, the mask of its holders, its count and whether it waits.
Held = tuple[int, int, int, int, int, int | None, int]
_AID: Final = 3
_MASK: Final = 4
_WAITS: Final = 6


def group_report(
    members: Sequence[tuple[int, int]], month: str, *, limit: int = 50, offset: int = 0
) -> GroupReport:
    """The overlap of these members' libraries for one month; ``members`` are
    (member number, user id) pairs of the people who joined, numbered inside the group."""
    if offset < 0:
        raise ValueError("offset must not be negative")
    limit = max(1, min(MAX_LIMIT, limit))
    numbers = [number for number, _ in members]
    rows = _held(members, month) if members else []
    k, bits = len(numbers), [1 << i for i in range(len(numbers))]
    mask_counts: dict[int, int] = {}
    # One pass: the rows one member alone holds, by mask (their bit), and the rest. Each
    # row starts with its order (most holders, then rarest), so the tops are read without
    # a key function: within one mask or one size, the rest of that order is the rarest.
    by_mask: dict[int, list[Held]] = {}
    shared_rows: list[Held] = []
    pending = 0
    for row in rows:
        mask = row[_MASK]
        mask_counts[mask] = mask_counts.get(mask, 0) + 1
        if row[0] <= -2:
            shared_rows.append(row)
            pending += row[_WAITS]
        else:
            by_mask.setdefault(mask, []).append(row)
    own = {bit: heapq.nsmallest(DISTINCTIVE_TOP, by_mask.get(bit, [])) for bit in bits}
    tops = {size: heapq.nsmallest(TOP, (r for r in shared_rows if r[0] == -size))
            for size in {k, k - 1} if size >= 2}  # fmt: skip
    # The page only: not every shared artist sorted (22,000 in a group of five).
    shared = heapq.nsmallest(offset + limit, shared_rows)[offset:]
    picked = [r for lists in (*own.values(), *tops.values(), shared) for r in lists]
    made = _artists(picked, members)
    distinctive = {
        n: [made[r[_AID]] for r in own[bit]] for n, bit in zip(numbers, bits, strict=True)
    }
    return _figures(
        numbers, mask_counts, pending,
        everyone=[made[r[_AID]] for r in tops.get(k, [])] if k >= 2 else [],
        all_but_one=[made[r[_AID]] for r in tops.get(k - 1, [])] if k >= 3 else [],
        distinctive=distinctive,
        artists=[made[r[_AID]] for r in shared], limit=limit, offset=offset,
    )  # fmt: skip


def _held(members: Sequence[tuple[int, int]], month: str) -> list[Held]:
    """Each artist of the members: its order, then its id, its holders' mask, its count
    and whether it waits (``Held``)."""
    p, k = database.param, len(members)
    masks = (_MASKS_POSTGRES if is_postgres() else _MASKS_SQLITE).format(
        case=" ".join(f"WHEN {p} THEN {1 << i}" for i in range(k)), ids=", ".join([p] * k)
    )
    holders = " + ".join(f'(("h"."mask" >> {i}) & 1)' for i in range(k))
    sql = _HELD_SQL.format(p=p, masks=masks, holders=holders)
    user_ids = [user_id for _, user_id in members]
    rows: list[Held] = database.execute_sql(sql, (*user_ids, *user_ids, month)).fetchall()
    return rows


def _artists(picked: list[Held], members: Sequence[tuple[int, int]]) -> dict[int, GroupArtist]:
    """The picked artists by id, with their names and pictures (one query for them all)
    and, for those two or more hold, who saved them first (one more)."""
    if not picked:
        return {}
    numbers = [number for number, _ in members]
    ids = sorted({r[_AID] for r in picked})
    sql = _DETAILS_SQL.format(ids=", ".join([database.param] * len(ids)))
    details = {row[0]: row[1:] for row in database.execute_sql(sql, ids).fetchall()}
    shared = sorted({r[_AID] for r in picked if r[0] <= -2})
    firsts = first_saves([user_id for _, user_id in members], shared) if shared else {}
    number_of = {user_id: number for number, user_id in members}
    return {
        aid: GroupArtist(
            *_named(details[aid]),
            ml,
            [n for i, n in enumerate(numbers) if mask >> i & 1],
            bool(waits) and bin(mask).count("1") >= 2,
            _group_first(firsts.get(aid), number_of),
        )  # fmt: skip
        for _, _, _, aid, mask, ml, waits in picked
    }


def _group_first(found: FirstSave | None, number_of: dict[int, int]) -> GroupFirst | None:
    """What the group says of an artist's first saver: a same-day tie goes to the lowest
    member number, so the answer does not hang on the hour of the day."""
    if found is None:
        return None
    tied = sorted(number_of[user_id] for user_id in found.same_day)
    if len(tied) < 2:
        tied = []
    member = tied[0] if tied else number_of[found.user_id]
    return GroupFirst(member, found.saved_at.strftime("%Y-%m-%dT%H:%M:%SZ"), tied)


def _named(row: tuple[Any, ...]) -> tuple[str, str | None, str | None, str | None]:
    """An artist's (spotify_id, name, url, image_url)."""
    return row[0], row[1], row[2], row[3]


def _figures(
    numbers: list[int],
    mask_counts: dict[int, int],
    pending: int,
    *,
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
        return [
            GroupArtist(
                **{**row, "first": GroupFirst(**row["first"]) if row.get("first") else None}
            )
            for row in rows
        ]

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
