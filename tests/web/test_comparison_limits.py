"""What a client chooses is bounded before it reaches the comparison cache: the limit is
clamped before keying, an offset past the end is refused without computing, and each
person has a budget of uncached computations a minute."""

from __future__ import annotations

import pytest

from config.redis_ref import RedisRef
from models import Artist, User, UserArtist, current_month
from models.artist import ArtistFields
from sync.library_stamps import LibraryStamps
from tests.web.comparing import opened
from tests.web.test_groups import group_of
from web.state.comparison_cache import ComparisonCache, PastTheEnd, TooManyComputes


@pytest.fixture
def cache(broker, namespace):
    return ComparisonCache(RedisRef(broker.client, namespace))


def comparison_keys(client, namespace: str) -> set[bytes]:
    return set(client.scan_iter(f"{namespace}:comparison*")) - set(
        client.scan_iter(f"{namespace}:comparison-budget*")
    )


def two_people(shared: int, only_mine: int = 0) -> tuple[User, User]:
    names = [f"{n:022d}" for n in range(shared + only_mine)]
    ids = Artist.upsert_many([ArtistFields(s, s, None, None, True) for s in names])
    me, friend = User.create(spotify_id="me"), User.create(spotify_id="friend")
    UserArtist.link_many(me.id, ids.values(), "followed")
    UserArtist.link_many(friend.id, [ids[s] for s in names[:shared]], "followed")
    return me, friend


def page(cache, me, friend, limit=50, offset=0):
    return cache.compare(me, friend, current_month(), limit=limit, offset=offset, sort="name")


def test_limits_over_the_maximum_share_one_entry(db, cache, broker, namespace):
    me, friend = two_people(3)

    page(cache, me, friend, limit=200)
    before = comparison_keys(broker.client, namespace)
    for limit in (201, 5000, 9999):
        assert page(cache, me, friend, limit=limit).limit == 200

    assert comparison_keys(broker.client, namespace) == before


def test_an_offset_past_the_end_is_refused_without_computing_or_caching(
    db, cache, broker, namespace
):
    me, friend = two_people(3, only_mine=40)

    for offset in (3, 4, 43, 10**7):
        with pytest.raises(PastTheEnd):
            page(cache, me, friend, offset=offset)

    assert comparison_keys(broker.client, namespace) == set()
    assert page(cache, me, friend, offset=2).shared  # the last one is still there


def test_uncached_computations_have_a_budget_per_person(db, cache, broker, namespace):
    cache.computes_per_minute = 5  # COMPARE_COMPUTES_PER_MINUTE
    me, friend = two_people(20)

    for offset in range(5):
        page(cache, me, friend, limit=1, offset=offset)
    with pytest.raises(TooManyComputes):
        page(cache, me, friend, limit=1, offset=5)

    assert page(cache, me, friend, limit=1, offset=4).offset == 4  # cached: still served
    assert page(cache, friend, me, limit=1, offset=5).offset == 5  # the friend's own budget


def test_the_api_answers_a_page_past_the_end_with_a_400(web, signed_in_web, sign_in):
    ben = sign_in("ben")
    signed_in_web("cleo")

    opened(web, ben)
    answer = web.get(f"/api/compare/{ben.friend_code}?offset=100000", status=400)
    page_answer = web.get(f"{opened(web, ben)}?page=999", status=400)

    assert "does not exist" in answer.json["error"]
    assert "does not exist" in page_answer.text


def test_the_only_you_and_only_them_pages_count_against_the_same_budget(
    web, signed_in_web, sign_in
):
    from web.http import services as app_services

    ben = sign_in("ben")
    signed_in_web("cleo")
    comparison = opened(web, ben)
    app_services.of(web.app).comparisons.computes_per_minute = 5

    answers = [
        web.get(f"{comparison}/only-{side}", status="*").status_int
        for side in ("you", "them", "you", "them", "you", "them", "you")
    ]

    assert answers == [200] * 5 + [429] * 2
    assert "Wait a minute" in web.get(f"{comparison}/only-you", status=429).text


def _budget(web, per_minute: int):
    """Set COMPARE_COMPUTES_PER_MINUTE of the running app; its comparison cache."""
    from web.http import services as app_services

    comparisons = app_services.of(web.app).comparisons
    comparisons.computes_per_minute = per_minute
    return comparisons


def test_a_group_page_s_uncached_computations_count_against_the_same_budget(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    ana = crowd[0][0]
    key = path.rsplit("/", 1)[1]
    _budget(web, 5)

    # Each page of the group is a computation of its own; the API's pages are too.
    answers = [ana.get(f"{path}?page={n}", status="*").status_int for n in range(1, 8)]

    assert answers == [200] * 5 + [429] * 2
    assert "Wait a minute" in ana.get(f"{path}?page=9", status=429).text
    assert "Wait a minute" in ana.get(f"/api/groups/{key}?offset=500", status=429).json["error"]
    assert ana.get(f"{path}?page=3").status_int == 200  # cached: still served


def test_a_group_pair_s_pages_count_against_the_viewer_s_budget_not_the_pair_s(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    (ana, _), (ben, _), (cleo, _) = crowd
    _budget(web, 4)

    # Cléo, member 3, looks at Ana and Ben's pair: the comparison in two sorts, then the
    # "only" pages, each computed from both libraries.
    tails = ("?sort=listeners", "?sort=name", "/only-you", "/only-them", "?sort=-name", "/only-you")
    answers = [cleo.get(f"{path}/pairs/1/2{tail}", status="*").status_int for tail in tails]

    assert answers == [200] * 4 + [429] * 2
    assert "Wait a minute" in cleo.get(f"{path}/pairs/2/1/only-them", status=429).text
    # Ana and Ben, whose pair it is, spent nothing: their own pages still compute.
    for client, pair in ((ana, "1/2"), (ben, "2/1")):
        for side in ("you", "them"):
            assert client.get(f"{path}/pairs/{pair}/only-{side}").status_int == 200


def test_the_share_card_s_comparison_counts_against_the_same_budget(web, signed_in_web, sign_in):
    ben = sign_in("ben")
    signed_in_web("cleo")
    comparison = opened(web, ben)
    comparisons = _budget(web, 3)
    stamps = LibraryStamps(comparisons.ref)

    cards = []
    for _ in range(4):
        stamps.touch([ben.id])  # Ben's library changed: the card is computed anew
        cards.append(web.get(f"{comparison}/card.png", status="*"))

    # Past the budget the card shows the latest comparison (the budget's documented answer
    # for one computed before); a comparison never computed is a 429.
    assert [c.status_int for c in cards] == [200] * 4
    assert all(c.content_type == "image/png" for c in cards)
    assert "Wait a minute" in web.get(f"{comparison}?sort=name", status=429).text
