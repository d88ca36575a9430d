"""The comparison report on small hand-made libraries whose answers are known."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Artist, ArtistListeners, User, UserArtist, comparison_reads
from models.artist import ArtistFields
from models.comparison import compare, only_page, person_summary

MONTH, LAST_MONTH = "2026-03", "2026-02"


def make_user(name: str) -> User:
    return User.create(spotify_id=name, display_name=name.title())


def add_artists(*specs: tuple[str, str | None]) -> dict[str, int]:
    """Artists by (spotify_id, name); returns their row ids."""
    return Artist.upsert_many(
        [
            ArtistFields(sid, name, f"https://open/{sid}", f"https://img/{sid}")
            for sid, name in specs
        ]
    )


def link(user: User, ids: dict[str, int], library: dict[str, list[str]]) -> None:
    for source, artists in library.items():
        UserArtist.link_many(user.id, [ids[a] for a in artists], source)


def listeners(ids: dict[str, int], counts: dict[str, int | None], month: str = MONTH) -> None:
    for sid, n in counts.items():
        ArtistListeners.record(ids[sid], n, month=month)


@pytest.fixture
def pair(db):
    """Ana and Ben: a, b, c shared; d, e only Ana's; f only Ben's."""
    ids = add_artists(*((s, s.upper()) for s in "abcdef"))
    ana, ben = make_user("ana"), make_user("ben")
    link(ana, ids, {"followed": ["a", "b", "d"], "saved_track": ["a", "c", "e"]})
    link(ben, ids, {"saved_album": ["a", "b", "c", "f"], "followed": ["c"]})
    return ana, ben, ids


def test_shared_union_and_similarity_count_distinct_artists(pair):
    ana, ben, _ = pair

    report = compare(ana, ben, MONTH)

    assert (report.shared_count, report.union_count) == (3, 6)
    assert report.similarity == pytest.approx(0.5)
    assert report.me.artist_count == 5 and report.friend.artist_count == 4


def test_the_two_way_shares_and_the_match_are_fair_to_a_small_library(db):
    # Given a small library wholly inside a big one: 3 artists against 30.
    ids = add_artists(*((f"s{i}", f"S{i}") for i in range(30)))
    small, big = make_user("small"), make_user("big")
    link(small, ids, {"followed": ["s0", "s1", "s2"]})
    link(big, ids, {"followed": list(ids)})

    report = compare(small, big, MONTH)
    reverse = compare(big, small, MONTH)

    # Jaccard says 10 %; the small library is in fact all in the big one.
    assert report.similarity == pytest.approx(0.1)
    assert (report.my_share, report.their_share) == (pytest.approx(1.0), pytest.approx(0.1))
    assert report.match == pytest.approx(1.0) == reverse.match
    assert (reverse.my_share, reverse.their_share) == (pytest.approx(0.1), pytest.approx(1.0))


def test_the_shares_of_an_empty_library_are_zero(db):
    report = compare(make_user("nobody"), make_user("empty"), MONTH)
    assert (report.my_share, report.their_share, report.match) == (0.0, 0.0, 0.0)


def test_by_source_counts_distinct_artists_per_source(pair):
    ana, ben, _ = pair
    assert person_summary(ana, MONTH).by_source == {
        "followed": 3,
        "saved_track": 3,
        "saved_album": 0,
    }
    summary = person_summary(ben, MONTH)
    assert summary.by_source == {"followed": 1, "saved_track": 0, "saved_album": 4}
    assert (summary.user_id, summary.spotify_id, summary.display_name) == (ben.id, "ben", "Ben")


def test_shared_artists_carry_each_persons_sources_in_the_fixed_order(pair):
    ana, ben, _ = pair

    shared = {s.spotify_id: s for s in compare(ana, ben, MONTH).shared}

    assert shared["a"].my_sources == ["followed", "saved_track"]
    assert shared["a"].friend_sources == ["saved_album"]
    assert shared["c"].friend_sources == ["followed", "saved_album"]
    assert (shared["a"].name, shared["a"].url, shared["a"].image_url) == (
        "A",
        "https://open/a",
        "https://img/a",
    )


def test_the_median_is_the_middle_count_or_the_mean_of_the_middle_two(pair):
    ana, ben, ids = pair
    # Ana: a, b, c, d known (even), e NULL; last month's rows never count.
    listeners(ids, {"a": 10, "b": 40, "c": 20, "d": 1000, "e": None})
    listeners(ids, {"a": 5_000_000, "f": 7}, month=LAST_MONTH)
    # Ben: a, b, c known (odd), f has no row this month.

    mine, theirs = person_summary(ana, MONTH), person_summary(ben, MONTH)

    assert (mine.with_listeners, mine.median_monthly_listeners) == (4, 30)
    assert (theirs.with_listeners, theirs.median_monthly_listeners) == (3, 20)


def test_the_median_is_none_when_no_count_is_known(pair):
    ana, _, ids = pair
    listeners(ids, {"a": None})
    listeners(ids, {"b": 10}, month=LAST_MONTH)

    summary = person_summary(ana, MONTH)

    assert (summary.with_listeners, summary.median_monthly_listeners) == (0, None)


def test_only_artists_with_no_row_this_month_are_pending(pair):
    ana, ben, ids = pair
    listeners(ids, {"a": None}, month=MONTH)  # read, no figure: done
    Artist.update(gone_at=dt.datetime(2026, 3, 2)).where(Artist.id == ids["b"]).execute()
    listeners(ids, {"c": 12}, month=LAST_MONTH)  # only last month's row: still waiting

    report = compare(ana, ben, MONTH)

    assert report.pending_shared == 1
    by_id = {Artist.get(Artist.spotify_id == a.spotify_id).id: a for a in report.shared}
    assert [by_id[ids[k]].pending for k in "abc"] == [False, False, True]
    listeners(ids, {"c": 12})
    assert compare(ana, ben, MONTH).pending_shared == 0


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("listeners", ["B", "c", "a", "d", "e"]),
        ("-listeners", ["a", "B", "c", "d", "e"]),
        ("name", ["a", "B", "c", "d", "e"]),
        ("-name", ["e", "d", "c", "B", "a"]),
    ],
)
def test_the_shared_artists_sort_with_unknown_counts_last(db, sort, order):
    ids = add_artists(
        ("a", "alpha"), ("B", "Bravo"), ("c", "charlie"), ("d", "delta"), ("e", "Echo")
    )
    ana, ben = make_user("ana"), make_user("ben")
    link(ana, ids, {"followed": list(ids)})
    link(ben, ids, {"saved_track": list(ids)})
    # b and c tie on their count and so go by name; d has a NULL count, e no row.
    listeners(ids, {"a": 500, "B": 20, "c": 20, "d": None})

    report = compare(ana, ben, MONTH, sort=sort)

    assert [s.spotify_id for s in report.shared] == order
    assert report.sort == sort


def test_an_unknown_sort_or_a_negative_offset_is_refused(pair):
    ana, ben, _ = pair
    with pytest.raises(ValueError, match="sort"):
        compare(ana, ben, MONTH, sort="popularity")
    with pytest.raises(ValueError, match="offset"):
        compare(ana, ben, MONTH, offset=-1)


def test_the_limit_is_clamped_and_a_page_past_the_end_keeps_the_totals(pair):
    ana, ben, _ = pair
    assert compare(ana, ben, MONTH, limit=0).limit == 1
    assert compare(ana, ben, MONTH, limit=10_000).limit == 200

    report = compare(ana, ben, MONTH, offset=50)

    assert report.shared == [] and report.shared_count == 3 and report.offset == 50


def test_paging_through_every_sort_yields_each_shared_artist_once(db):
    specs = [(f"s{i:02d}", f"Name {i % 4}") for i in range(23)]
    ids = add_artists(*specs)
    ana, ben = make_user("ana"), make_user("ben")
    link(ana, ids, {"followed": list(ids)})
    link(ben, ids, {"saved_album": list(ids)[3:]})
    # Many ties on the count and on the name: the spotify id decides.
    listeners(ids, {sid: (i % 3) * 100 if i % 5 else None for i, (sid, _) in enumerate(specs)})

    for sort in ("listeners", "-listeners", "name", "-name"):
        seen = []
        for offset in range(0, 40, 6):
            seen += [
                s.spotify_id
                for s in compare(ana, ben, MONTH, limit=6, offset=offset, sort=sort).shared
            ]
        assert sorted(seen) == sorted(list(ids)[3:]), sort


def test_only_one_sides_artists_come_most_listened_first_unknown_last(pair):
    ana, ben, ids = pair
    listeners(ids, {"d": 5, "e": 9_000})

    report = compare(ana, ben, MONTH)

    assert [(r.spotify_id, r.monthly_listeners) for r in report.only_me] == [("e", 9_000), ("d", 5)]
    assert report.only_me[0].sources == ["saved_track"]
    assert [(r.spotify_id, r.monthly_listeners, r.sources) for r in report.only_friend] == [
        ("f", None, ["saved_album"])
    ]
    assert len(compare(ana, ben, MONTH, top_only=1).only_me) == 1


def test_a_person_compared_with_an_empty_library(pair):
    ana, _, ids = pair
    listeners(ids, {"a": 100})
    nobody = make_user("nobody")

    report = compare(ana, nobody, MONTH)

    assert (report.shared_count, report.union_count, report.similarity) == (0, 5, 0.0)
    assert report.shared == [] and report.only_friend == [] and len(report.only_me) == 5
    assert report.friend.artist_count == 0
    assert report.friend.by_source == {"followed": 0, "saved_track": 0, "saved_album": 0}
    assert report.friend.median_monthly_listeners is None
    assert compare(nobody, make_user("empty"), MONTH).similarity == 0.0


def test_html_special_names_come_back_unchanged(db):
    name = "<script>alert('x')</script> & \"Sons\""
    ids = add_artists(("x", name))
    ana, ben = make_user("ana"), make_user("ben")
    link(ana, ids, {"followed": ["x"]})
    link(ben, ids, {"followed": ["x"]})

    assert compare(ana, ben, MONTH).shared[0].name == name


def test_the_histogram_puts_each_boundary_in_the_bucket_it_starts(db):
    counts = {"a": 99, "b": 100, "c": 999, "d": 1000, "e": 99_999_999, "f": 100_000_000}
    ids = add_artists(*((s, s) for s in [*counts, "g", "h"]))
    ana, ben = make_user("ana"), make_user("ben")
    link(ana, ids, {"followed": list(ids)})
    link(ben, ids, {"followed": ["f"]})
    listeners(ids, {**counts, "g": None})

    histogram = compare(ana, ben, MONTH).histogram

    assert [b.label for b in histogram] == [
        "<100", "100\u20131k", "1k\u201310k", "10k\u2013100k", "100k\u20131M", "1M\u201310M",
        "10M\u2013100M", "\u2265100M",
    ]  # fmt: skip
    assert [b.me for b in histogram] == [1, 2, 1, 0, 0, 0, 1, 1]
    assert [b.friend for b in histogram] == [0, 0, 0, 0, 0, 0, 0, 1]
    assert (histogram[1].low, histogram[1].high) == (100, 1000)
    assert (histogram[-1].low, histogram[-1].high) == (100_000_000, None)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mine=st.sets(st.integers(0, 14), max_size=12),
    theirs=st.sets(st.integers(0, 14), max_size=12),
    limit=st.integers(1, 5),
)
def test_counts_and_paging_agree_with_python_sets(db, mine, theirs, limit):
    User.delete().execute()
    Artist.delete().execute()
    ids = add_artists(*((f"p{i:02d}", f"P{i % 3}") for i in range(15)))
    ana, ben = make_user("ana"), make_user("ben")
    link(ana, ids, {"followed": [f"p{i:02d}" for i in mine]})
    link(ben, ids, {"saved_track": [f"p{i:02d}" for i in theirs]})
    listeners(ids, {f"p{i:02d}": (i % 4) * 10 or None for i in range(0, 15, 2)})

    report = compare(ana, ben, MONTH, limit=limit)
    pages = [
        s.spotify_id
        for offset in range(0, 15, limit)
        for s in compare(ana, ben, MONTH, limit=limit, offset=offset).shared
    ]

    assert report.shared_count == len(mine & theirs)
    assert report.union_count == len(mine | theirs)
    assert sorted(pages) == sorted(f"p{i:02d}" for i in mine & theirs)


def test_the_only_one_side_pages_count_and_page_every_artist(pair):
    ana, ben, ids = pair
    listeners(ids, {"d": 5, "e": 50, "f": 7})

    first_page = only_page(ana, ben, MONTH, limit=1)
    total, first = first_page.total, first_page.artists
    second = only_page(ana, ben, MONTH, limit=1, offset=1).artists
    past = only_page(ana, ben, MONTH, limit=1, offset=5)

    assert total == 2 and [a.name for a in first + second] == ["E", "D"]  # most listened
    assert second[0].sources == ["followed"] and second[0].monthly_listeners == 5
    assert (past.total, past.pending, past.artists) == (2, 0, [])
    assert only_page(ben, ana, MONTH).total == 1


def test_a_count_landing_while_the_page_is_read_drops_no_artist(pair, monkeypatch):
    # Given A counted and B and C not: the page's totals say one artist has a count.
    ana, ben, ids = pair
    listeners(ids, {"a": 10})
    ordered = comparison_reads.ordered

    def count_lands_first(*args, **kwargs):
        # A worker records B's count between the totals and the page's rows.
        landed = threading.Thread(target=listeners, args=(ids, {"b": 99}))
        landed.start()
        landed.join()
        return ordered(*args, **kwargs)

    monkeypatch.setattr(comparison_reads, "ordered", count_lands_first)

    report = compare(ana, ben, MONTH)

    # One moment's view: A counted, B and C waiting; B is not lost between the two reads.
    assert [a.name for a in report.shared] == ["A", "B", "C"]
    assert report.shared_count == 3 and report.pending_shared == 2
    monkeypatch.undo()
    # The next read sees B's count: both counted ones first, by count.
    assert [a.name for a in compare(ana, ben, MONTH, sort="-listeners").shared] == ["B", "A", "C"]
