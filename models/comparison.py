"""The comparison report: what two people's libraries share, as a few fixed SQL queries.

The web layer calls ``compare`` on every poll of a comparison page, so everything here is
plain SQL written once, the same text on SQLite and PostgreSQL (only the parameter mark
differs), returning tuples: the set work (distinct artists, shared, only one side) runs in
the database on the ``user_artist`` indexes (user_id, artist_id, source) and (artist_id),
and listener counts come from the unique index on artist_listeners(artist_id, month).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from models import comparison_reads as reads
from models.comparison_reads import EDGES
from models.db import database, read_snapshot
from models.fields import SOURCES
from models.first_saved import FirstSave, SavedMonth, first_saves
from models.user import User

SORTS = ("listeners", "-listeners", "name", "-name")
MAX_LIMIT = 200


@dataclass(frozen=True)
class PersonSummary:
    """One person's library in numbers, for one month's listener counts."""

    user_id: int
    spotify_id: str
    display_name: str | None
    artist_count: int
    by_source: dict[str, int]
    with_listeners: int
    median_monthly_listeners: int | None
    # Artists still waiting for this month's count: while any is, the median and the
    # histogram are provisional (0 in a comparison cached before this was counted).
    pending: int = 0


@dataclass(frozen=True)
class FirstSaved(SavedMonth):
    """Which of the two saved a shared artist first, and when (``models.first_saved``)."""

    who: str  # "you" or "friend", seen from the person who asked
    saved_at: str  # ISO 8601 in UTC, as Spotify writes it: "2021-03-04T09:30:00Z"
    same_day: bool = False  # the other one saved it that same UTC day too


@dataclass(frozen=True)
class SharedArtist:
    """An artist both people have, with where each of them has it from."""

    spotify_id: str
    name: str | None
    url: str | None
    image_url: str | None
    monthly_listeners: int | None
    my_sources: list[str]
    friend_sources: list[str]
    # No count yet and still waiting for update_artist (False: tried and had none).
    pending: bool = False
    # The count of the earliest month held (None: no count was ever read).
    earliest_listeners: int | None = None
    # Who saved it first (None: neither has a date, as when both only follow it).
    first: FirstSaved | None = None

    @property
    def change(self) -> str | None:
        """ "up" or "down" when the listeners grew or fell by more than half since the
        earliest month held, else None."""
        first, now = self.earliest_listeners, self.monthly_listeners
        if not first or now is None:
            return None
        if now > first * 1.5:
            return "up"
        return "down" if now < first * 0.5 else None


@dataclass(frozen=True)
class ArtistRow:
    """An artist only one of the two has."""

    spotify_id: str
    name: str | None
    url: str | None
    monthly_listeners: int | None
    sources: list[str]
    # No count yet and still waiting for update_artist (listed last until it comes).
    pending: bool = False


@dataclass(frozen=True)
class Bucket:
    """How many of each person's artists have a count in [low, high) (high None: no bound)."""

    label: str
    low: int
    high: int | None
    me: int
    friend: int


@dataclass(frozen=True)
class Comparison:
    """Everything a comparison page shows, for one page of the shared artists."""

    me: PersonSummary
    friend: PersonSummary
    shared_count: int
    union_count: int
    similarity: float
    shared: list[SharedArtist]
    limit: int
    offset: int
    sort: str
    pending_shared: int
    only_me: list[ArtistRow]
    only_friend: list[ArtistRow]
    histogram: list[Bucket]

    # The two-way figures are computed from the counts above rather than stored, so a
    # comparison cached before they existed still reads back (``comparison_from_dict``).
    @property
    def my_share(self) -> float:
        """The share of my artists that my friend has too (0 when I have none)."""
        return self.shared_count / self.me.artist_count if self.me.artist_count else 0.0

    @property
    def their_share(self) -> float:
        """The share of my friend's artists that I have too (0 when they have none)."""
        return self.shared_count / self.friend.artist_count if self.friend.artist_count else 0.0

    @property
    def match(self) -> float:
        """The headline figure: the share of the smaller library found in the other one.

        Jaccard (``similarity``) divides by the union, so a small library next to a big one
        scores near zero however much of it is shared; this figure is 1 when one library
        lies wholly inside the other (docs/comparison.md says why it is the headline).
        """
        return max(self.my_share, self.their_share)


def _short(n: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n // size}{suffix}"
    return str(n)


def _bucket_labels() -> list[tuple[str, int, int | None]]:
    lows, highs = (0, *EDGES), (*EDGES, None)
    labels = [f"<{_short(EDGES[0])}"]
    labels += [f"{_short(lo)}\u2013{_short(hi)}" for lo, hi in zip(EDGES, EDGES[1:], strict=False)]
    labels.append(f"\u2265{_short(EDGES[-1])}")
    return list(zip(labels, lows, highs, strict=True))


BUCKETS = _bucket_labels()

# The SQL, written once at import. "{p}" is the driver's parameter mark. A person's
# distinct artists are "artist_id IN (SELECT artist_id FROM user_artist WHERE user_id = ?)":
# both databases answer it from the (user_id, artist_id, source) index without a sort.
_MINE = 'SELECT "artist_id" FROM "user_artist" WHERE "user_id" = {p}'
# Unknown counts and names sort last in either direction; NULLS LAST would be shorter, but
# a CASE flag reads the same on both databases and on any SQLite version.
_NULL_ML = 'CASE WHEN "l"."monthly_listeners" IS NULL THEN 1 ELSE 0 END'
_NULL_NAME = 'CASE WHEN "a"."name" IS NULL THEN 1 ELSE 0 END'
_NAME = 'LOWER("a"."name")'
_PAGE_COLUMNS = (
    '"a"."id", "a"."spotify_id", "a"."name", "a"."url", "a"."image_url", "l"."monthly_listeners"'
)
_FROM = (
    'FROM "artist" AS a LEFT JOIN "artist_listeners" AS l '
    'ON "l"."artist_id" = "a"."id" AND "l"."month" = {p} '
)
_SHARED = f'WHERE "a"."id" IN ({_MINE}) AND "a"."id" IN ({_MINE}) '
# Still waiting for update_artist: no row for the month at all. A row without a count was
# read and had none; a gone artist never gets one.
_PENDING = 'CASE WHEN "l"."artist_id" IS NULL AND "a"."gone_at" IS NULL THEN 1 ELSE 0 END'
_SHARED_ORDER = {
    "listeners": f'{_NULL_ML}, "l"."monthly_listeners", {_NULL_NAME}, {_NAME}, "a"."spotify_id"',
    "-listeners": (
        f'{_NULL_ML}, "l"."monthly_listeners" DESC, {_NULL_NAME}, {_NAME}, "a"."spotify_id"'
    ),
    "name": f'{_NULL_NAME}, {_NAME}, "a"."spotify_id"',
    "-name": f'{_NULL_NAME}, {_NAME} DESC, "a"."spotify_id" DESC',
}
# The page and the shared totals in one pass: the window sums run over every shared
# artist before LIMIT cuts the page out.
# The earliest count held for each artist of the cut page (for the "grew or fell by more
# than half" mark): a lookup on the (artist_id, month) index, made in the outer query so
# that it runs for the page's rows only, never for every shared artist before LIMIT.
_EARLIEST = (
    '(SELECT "e"."monthly_listeners" FROM "artist_listeners" AS e '
    'WHERE "e"."artist_id" = "p"."id" AND "e"."monthly_listeners" IS NOT NULL '
    'ORDER BY "e"."month" LIMIT 1)'
)


def _outer(order: str) -> str:
    # The same order, on the inner query's named columns.
    for inner, outer in (
        ('"l"."monthly_listeners"', '"p"."ml"'),
        ('"a"."name"', '"p"."name"'),
        ('"a"."spotify_id"', '"p"."spotify_id"'),
    ):
        order = order.replace(inner, outer)
    return order


_SHARED_PAGE_SQL = {
    sort: (
        f'SELECT "p".*, {_EARLIEST} FROM ('
        'SELECT "a"."id" AS id, "a"."spotify_id" AS spotify_id, "a"."name" AS name, '
        '"a"."url" AS url, "a"."image_url" AS image_url, "l"."monthly_listeners" AS ml, '
        f"COUNT(*) OVER () AS total, SUM({_PENDING}) OVER () AS pending_total, "
        f"{_PENDING} AS pending "
        f"{_FROM}{_SHARED}"
        f"ORDER BY {order} LIMIT {{p}} OFFSET {{p}}"
        f") AS p ORDER BY {_outer(order)}"
    )
    for sort, order in _SHARED_ORDER.items()
}
# Only for a page past the end, which has no rows to carry the totals.
_SHARED_COUNT_SQL = f"SELECT COUNT(*), COALESCE(SUM({_PENDING}), 0) {_FROM}{_SHARED}"
# One page of the artists only one side has, with their number, for the "see all" pages.
_ONLY_PAGE_SQL = (
    f"SELECT {_PAGE_COLUMNS}, {_PENDING}, COUNT(*) OVER (), SUM({_PENDING}) OVER () "
    f'{_FROM}WHERE "a"."id" IN ({_MINE}) '
    f'AND "a"."id" NOT IN ({_MINE}) '
    f"ORDER BY {_SHARED_ORDER['-listeners']} LIMIT {{p}} OFFSET {{p}}"
)
_SOURCES_SQL = (
    'SELECT "user_id", "artist_id", "source" FROM "user_artist" '
    'WHERE "user_id" IN ({p}, {p}) AND "artist_id" IN ({ids})'
)


_sql, _rows = reads.sql, reads.rows


def _summaries(users: Sequence[User], month: str) -> tuple[list[PersonSummary], list[list[int]]]:
    """The summaries of these people (one or two) and their histogram counts."""
    summaries, histograms = [], []
    for user in users:
        total, per_source, buckets, pending = reads.person_counts(user.id, month)
        known = sum(buckets)
        summaries.append(
            PersonSummary(
                user_id=user.id,
                spotify_id=user.spotify_id,
                display_name=user.display_name,
                artist_count=total,
                by_source=dict(zip(SOURCES, per_source, strict=True)),
                with_listeners=known,
                median_monthly_listeners=reads.median(user.id, month, known),
                pending=int(pending or 0),
            )
        )
        histograms.append(buckets)
    return summaries, histograms


def person_summary(user: User, month: str) -> PersonSummary:
    """How many artists the person has, from which sources, and their median listeners."""
    return _summaries([user], month)[0][0]


def _sources_of(
    user_ids: tuple[int, int], artist_ids: list[int]
) -> dict[tuple[int, int], list[str]]:
    """Each (user, artist)'s sources in the fixed order, for a page's artists only."""
    found: dict[tuple[int, int], set[str]] = {}
    if artist_ids:
        marks = ", ".join([database.param] * len(artist_ids))
        for user_id, artist_id, source in _rows(_SOURCES_SQL, (*user_ids, *artist_ids), ids=marks):
            found.setdefault((user_id, artist_id), set()).add(source)
    return {key: [s for s in SOURCES if s in got] for key, got in found.items()}


def compare(
    me: User,
    friend: User,
    month: str,
    *,
    limit: int = 50,
    offset: int = 0,
    sort: str = "listeners",
    top_only: int = 10,
) -> Comparison:
    """Compare two libraries for one month: the shared page, the only-one-side tops, more."""
    if sort not in _SHARED_PAGE_SQL:
        raise ValueError(f"unknown sort {sort!r}; one of {', '.join(SORTS)}")
    if offset < 0:
        raise ValueError("offset must not be negative")
    limit = max(1, min(MAX_LIMIT, limit))
    top_only = max(0, min(MAX_LIMIT, top_only))
    # One snapshot: the totals and the page's counted and uncounted rows are separate
    # statements, and a count landing between them would drop an artist from the page.
    with read_snapshot():
        (mine, theirs), (my_hist, their_hist) = _summaries([me, friend], month)
        page, shared_count, pending = _shared_page(me.id, friend.id, month, sort, limit, offset)
        only_me, only_friend = _only_tops(me.id, friend.id, month, top_only)
        sources = _sources_of(
            (me.id, friend.id), [row[0] for rows in (page, only_me, only_friend) for row in rows]
        )
    union_count = mine.artist_count + theirs.artist_count - shared_count

    return Comparison(
        me=mine,
        friend=theirs,
        shared_count=shared_count,
        union_count=union_count,
        similarity=shared_count / union_count if union_count else 0.0,
        shared=_shared_artists(page, sources, me.id, friend.id),
        limit=limit,
        offset=offset,
        sort=sort,
        pending_shared=int(pending or 0),
        only_me=_only_rows(only_me, sources, me.id),
        only_friend=_only_rows(only_friend, sources, friend.id),
        histogram=[
            Bucket(label, low, high, my_hist[i], their_hist[i])
            for i, (label, low, high) in enumerate(BUCKETS)
        ],
    )


def _only_tops(
    me: int, friend: int, month: str, top_only: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The most listened artists each of the two has and the other has not."""
    if not top_only:
        return [], []
    mine, theirs = (
        reads.ordered(a, b, month, shared=False, descending=True, counted=None, limit=top_only)
        for a, b in ((me, friend), (friend, me))
    )
    return mine, theirs


def _shared_page(
    me: int, friend: int, month: str, sort: str, limit: int, offset: int
) -> tuple[list[tuple[Any, ...]], int, int]:
    """One page of the shared artists as ``(id, spotify_id, name, url, image_url,
    monthly_listeners, pending, earliest)`` rows, how many they are and how many pending."""
    if sort in ("name", "-name"):
        # By name there is no index to read in order: one pass sorts them all, and carries
        # the totals on its rows.
        page = _rows(_SHARED_PAGE_SQL[sort], (month, me, friend, limit, offset))
        if page:
            return [(*row[:6], *row[8:]) for row in page], page[0][6], int(page[0][7] or 0)
        shared, pending = _rows(_SHARED_COUNT_SQL, (month, me, friend))[0]
        return [], shared, int(pending or 0)
    shared, pending, counted = reads.shared_totals(me, friend, month)
    rows = reads.ordered(
        me, friend, month, shared=True, descending=sort == "-listeners", counted=counted,
        limit=limit, offset=offset,
    )  # fmt: skip
    earliest = reads.earliest_counts([row[0] for row in rows])
    return [(*row, earliest[row[0]]) for row in rows], shared, pending


def _shared_artists(
    page: list[tuple[Any, ...]],
    sources: dict[tuple[int, int], list[str]],
    my_id: int,
    friend_id: int,
) -> list[SharedArtist]:
    """The shared page's rows as ``SharedArtist``s, each with both people's sources and
    who of the two saved it first."""
    firsts = first_saves((my_id, friend_id), [row[0] for row in page])
    return [
        SharedArtist(
            sid,
            name,
            url,
            image,
            ml,
            sources.get((my_id, aid), []),
            sources.get((friend_id, aid), []),
            bool(row_pending),
            earliest,
            _first_saved(firsts[aid], my_id),
        )  # fmt: skip
        for aid, sid, name, url, image, ml, row_pending, earliest in page
    ]


def _only_rows(
    rows: list[tuple[Any, ...]], sources: dict[tuple[int, int], list[str]], user_id: int
) -> list[ArtistRow]:
    """One side's top rows as ``ArtistRow``s, with that person's sources."""
    return [
        ArtistRow(sid, name, url, ml, sources.get((user_id, aid), []), bool(rest and rest[0]))
        # A counted row has no pending flag; an uncounted one says whether it waits.
        for aid, sid, name, url, _image, ml, *rest in rows
    ]


def comparison_from_dict(data: dict[str, Any]) -> Comparison:
    """A ``Comparison`` back from ``dataclasses.asdict`` (as cached in JSON)."""
    return Comparison(
        **{
            **data,
            "me": PersonSummary(**data["me"]),
            "friend": PersonSummary(**data["friend"]),
            "shared": [_shared_from_dict(row) for row in data["shared"]],
            "only_me": [ArtistRow(**row) for row in data["only_me"]],
            "only_friend": [ArtistRow(**row) for row in data["only_friend"]],
            "histogram": [Bucket(**row) for row in data["histogram"]],
        }
    )


def _shared_from_dict(row: dict[str, Any]) -> SharedArtist:
    first = row.get("first")
    return SharedArtist(**{**row, "first": FirstSaved(**first) if first else None})


def _first_saved(found: FirstSave | None, my_id: int) -> FirstSaved | None:
    """What the two-person page says of an artist's first saver, seen from ``my_id``."""
    if found is None:
        return None
    return FirstSaved(
        "you" if found.user_id == my_id else "friend",
        found.saved_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        len(found.same_day) > 1,
    )


@dataclass(frozen=True)
class OnlyPage:
    """One page of the artists one person has and the other has not."""

    total: int
    # How many of all of them (not only this page) still wait for this month's count.
    pending: int
    artists: list[ArtistRow]


def only_page(
    owner: User, other: User, month: str, *, limit: int = 50, offset: int = 0
) -> OnlyPage:
    """How many artists ``owner`` has that ``other`` has not, and one page of them, most
    listened first, those still waiting for a count last (the "see all" page of a
    comparison's "Only you" and "Only them")."""
    if offset < 0:
        raise ValueError("offset must not be negative")
    limit = max(1, min(MAX_LIMIT, limit))
    rows = _rows(_ONLY_PAGE_SQL, (month, owner.id, other.id, limit, offset))
    if rows:
        total, pending = rows[0][7], int(rows[0][8] or 0)
    else:
        shared, shared_pending = _rows(_SHARED_COUNT_SQL, (month, owner.id, other.id))[0]
        summary = person_summary(owner, month)
        total = max(0, summary.artist_count - shared)
        pending = max(0, summary.pending - int(shared_pending or 0))
    sources = _sources_of((owner.id, other.id), [row[0] for row in rows])
    return OnlyPage(total, pending, _only_rows([row[:7] for row in rows], sources, owner.id))
