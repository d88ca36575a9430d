"""The whole comparison against plain Python sets, on random libraries and counts.

The counts are written before and after the links, some artists have a row without a
count or no row at all (pending), some are gone, and some links go again as a complete
resync removes them: what ``compare`` answers from the counts kept beside each person
(models/held_counts.py) must be what sets, sorts and a median in Python give.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Artist, ArtistListeners, User, UserArtist, held_counts
from models.artist import ArtistFields
from models.comparison import BUCKETS, SORTS, compare
from models.db import utcnow
from models.fields import SOURCES

MONTH, OTHER_MONTH = "2026-03", "2026-02"
N = 14
NAMES = ["b", "B", "a", None, "c", "a", "d", "e", "b", "z", "Z", None, "m", "a"]

# Per artist: None (no row this month), ("none",) (a row without a count) or a count;
# counts collide often, so ties are sorted by name as the page sorts them.
COUNT = st.one_of(st.none(), st.just(-1), st.sampled_from([5, 99, 100, 5_000, 5_000, 10**8]))
LIBRARY = st.dictionaries(st.integers(0, N - 1), st.sets(st.sampled_from(SOURCES), min_size=1))


def expected_person(library: dict[int, set[str]], counts: list[int | None]) -> dict:
    known = sorted(c for a in library if (c := counts[a]) is not None and c >= 0)
    histogram = [
        sum(1 for n in known if low <= n and (high is None or n < high))
        for _label, low, high in BUCKETS
    ]
    half = len(known) // 2
    middle = None
    if known:
        middle = known[half] if len(known) % 2 else (known[half - 1] + known[half]) // 2
    return {
        "artist_count": len(library),
        "by_source": {s: sum(1 for got in library.values() if s in got) for s in SOURCES},
        "with_listeners": len(known),
        "median": middle,
        "histogram": histogram,
    }


def sort_key(sort: str, count: int | None, name: str | None, sid: str):
    unknown = count is None
    by_name = (name is None, (name or "").lower())
    if sort == "listeners":
        return (unknown, count or 0, *by_name, sid)
    if sort == "-listeners":
        return (unknown, -(count or 0), *by_name, sid)
    return (*by_name, sid)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mine=LIBRARY, theirs=LIBRARY, counts=st.lists(COUNT, min_size=N, max_size=N),
    gone=st.sets(st.integers(0, N - 1)), dropped=st.sets(st.integers(0, N - 1)),
    early=st.sets(st.integers(0, N - 1)), sort=st.sampled_from(SORTS),
    limit=st.integers(1, 6), offset=st.integers(0, 9), top=st.integers(0, 4),
)  # fmt: skip
def test_compare_equals_python_sets(
    db, mine, theirs, counts, gone, dropped, early, sort, limit, offset, top
):
    for table in (UserArtist, ArtistListeners, User, Artist):
        table.delete().execute()
    sids = [f"{i:022d}" for i in range(N)]
    ids = Artist.upsert_many([ArtistFields(s, NAMES[i], "u", None) for i, s in enumerate(sids)])
    Artist.update(gone_at=utcnow()).where(Artist.spotify_id.in_([sids[g] for g in gone])).execute()
    me, friend = User.create(spotify_id="me"), User.create(spotify_id="friend")
    stored = [None if c is None else (None if c < 0 else c) for c in counts]

    def record(which) -> None:
        for i in which:
            ArtistListeners.record(ids[sids[i]], 7, month=OTHER_MONTH)  # another month: unread
            if counts[i] is not None:
                ArtistListeners.record(ids[sids[i]], stored[i], month=MONTH)

    record(early)  # counts read before anyone had the artist...
    for user, library in ((me, mine), (friend, theirs)):
        for source in SOURCES:
            UserArtist.link_many(
                user.id, [ids[sids[a]] for a, got in library.items() if source in got], source
            )
    record(set(range(N)) - early)  # ...and after
    # A complete resync of mine no longer saw these: their links and rows go.
    UserArtist.delete().where(
        (UserArtist.user == me.id) & UserArtist.artist.in_([ids[sids[d]] for d in dropped])
    ).execute()
    held_counts.release_unheld(me.id)
    mine = {a: got for a, got in mine.items() if a not in dropped}

    got = compare(me, friend, MONTH, limit=limit, offset=offset, sort=sort, top_only=top)

    shown = [None if c is None or c < 0 else c for c in counts]
    for summary, library in ((got.me, mine), (got.friend, theirs)):
        want = expected_person(library, counts)
        assert summary.artist_count == want["artist_count"]
        assert summary.by_source == want["by_source"]
        assert summary.with_listeners == want["with_listeners"]
        assert summary.median_monthly_listeners == want["median"]
        assert summary.pending == sum(1 for a in library if counts[a] is None and a not in gone)
    assert [b.me for b in got.histogram] == expected_person(mine, counts)["histogram"]
    assert [b.friend for b in got.histogram] == expected_person(theirs, counts)["histogram"]
    shared = set(mine) & set(theirs)
    assert got.shared_count == len(shared)
    assert got.union_count == len(set(mine) | set(theirs))
    assert got.pending_shared == sum(1 for a in shared if counts[a] is None and a not in gone)
    order = sorted(shared, key=lambda a: sort_key(sort, shown[a], NAMES[a], sids[a]))
    if sort == "-name":
        named = sorted((a for a in shared if NAMES[a]), key=lambda a: (NAMES[a].lower(), sids[a]))
        order = (
            named[::-1] + sorted((a for a in shared if not NAMES[a]), key=lambda a: sids[a])[::-1]
        )
    page = order[offset : offset + limit]
    assert [a.spotify_id for a in got.shared] == [sids[a] for a in page]
    for artist, a in zip(got.shared, page, strict=True):
        assert artist.monthly_listeners == shown[a]
        assert artist.pending == (counts[a] is None and a not in gone)
        assert artist.my_sources == [s for s in SOURCES if s in mine[a]]
        assert artist.friend_sources == [s for s in SOURCES if s in theirs[a]]
    for rows, owner, other in ((got.only_me, mine, theirs), (got.only_friend, theirs, mine)):
        only = sorted(
            set(owner) - set(other),
            key=lambda a: sort_key("-listeners", shown[a], NAMES[a], sids[a]),
        )
        assert [(r.spotify_id, r.monthly_listeners) for r in rows] == [
            (sids[a], shown[a]) for a in only[:top]
        ]
