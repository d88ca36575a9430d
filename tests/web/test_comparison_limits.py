"""What a client chooses is bounded before it reaches the comparison cache: the limit is
clamped before keying, an offset past the end is refused without computing, and each
person has a budget of uncached computations a minute."""

from __future__ import annotations

import pytest

from config.redis_ref import RedisRef
from models import Artist, User, UserArtist, current_month
from models.artist import ArtistFields
from tests.web.comparing import opened
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
