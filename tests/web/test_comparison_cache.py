"""The comparison cache: served while neither library changes, recomputed after the sync
functions touch a stamp, one computation at a time, and plain SQL when Redis is away."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from config.redis_ref import RedisRef
from jobs import queueing
from models import Artist, ArtistListeners, User, UserArtist, current_month
from models.artist import ArtistFields
from ops.round_trips import RoundTrips
from sync.artists import sync_artist
from sync.context import SyncContext
from sync.library_stamps import LibraryStamps
from sync.users import sync_user
from web.state.comparison_cache import ComparisonCache


@pytest.fixture
def client(broker):
    return broker.client


@pytest.fixture
def cache(client, namespace):
    return ComparisonCache(RedisRef(client, namespace))


def two_people(*shared: str) -> tuple[User, User, dict[str, int]]:
    ids = Artist.upsert_many([ArtistFields(s, s, None, None, True) for s in shared])
    me, friend = User.create(spotify_id="me"), User.create(spotify_id="friend")
    for user in (me, friend):
        UserArtist.link_many(user.id, ids.values(), "followed")
    return me, friend, ids


def cached_compare(cache: ComparisonCache, me: User, friend: User):
    return cache.compare(me, friend, current_month(), limit=50, offset=0, sort="listeners")


def test_a_change_without_a_stamp_touch_is_not_seen_and_one_with_it_is(db, cache, namespace):
    me, friend, ids = two_people("a" * 22)
    assert cached_compare(cache, me, friend).shared[0].monthly_listeners is None

    ArtistListeners.record(ids["a" * 22], 1234)
    assert cached_compare(cache, me, friend).shared[0].monthly_listeners is None  # the entry

    cache.stamps.touch_artist(ids["a" * 22])
    assert cached_compare(cache, me, friend).shared[0].monthly_listeners == 1234


def test_sync_artist_touches_the_stamps_of_the_artists_people(
    db, cache, client, app_settings, namespace, demo_spotify
):
    artist_id = sorted(demo_spotify.catalog.expected_artist_ids("cleo", "followed"))[0]
    me, friend, ids = two_people(artist_id)
    Artist.update(details_complete=False).execute()
    assert cached_compare(cache, me, friend).pending_shared == 1

    ctx = SyncContext.build(app_settings.but(redis_namespace=namespace), client)
    assert sync_artist(ctx, artist_id) == "updated"

    after = cached_compare(cache, me, friend)
    assert after.pending_shared == 0
    assert after.shared[0].monthly_listeners is not None


def test_sync_user_touches_the_persons_stamp(db, client, app_settings, namespace, sign_in):
    cleo = sign_in("cleo")
    stamps = LibraryStamps(RedisRef(client, namespace))
    [before] = stamps.current([cleo.id])
    ctx = SyncContext.build(app_settings.but(redis_namespace=namespace), client)
    ctx.send_artists = lambda ids: 0

    sync_user(ctx, cleo)

    [after] = stamps.current([cleo.id])
    assert after != before


def test_while_one_request_computes_the_others_get_the_latest_result(db, cache, client):
    me, friend, ids = two_people("b" * 22)
    cached_compare(cache, me, friend)
    ArtistListeners.record(ids["b" * 22], 99)
    cache.stamps.touch([me.id])
    params = f"{me.id}:{friend.id}:{current_month()}:listeners:50:0"
    client.set(f"{cache.ref.namespace}:comparison-lock:{params}", "1", px=5000)

    assert cached_compare(cache, me, friend).shared[0].monthly_listeners is None  # latest

    client.delete(f"{cache.ref.namespace}:comparison-lock:{params}")
    assert cached_compare(cache, me, friend).shared[0].monthly_listeners == 99


def test_without_redis_every_call_computes(db, namespace):
    gone = redis.Redis(port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = ComparisonCache(RedisRef(gone, namespace))
    me, friend, ids = two_people("c" * 22)
    assert cached_compare(cache, me, friend).shared_count == 1
    ArtistListeners.record(ids["c" * 22], 5)
    assert cached_compare(cache, me, friend).shared[0].monthly_listeners == 5


def test_with_no_latest_result_a_request_waits_for_the_one_computing(db, cache, client):
    me, friend, _ = two_people("d" * 22)
    params = f"{me.id}:{friend.id}:{current_month()}:listeners:50:0"
    lock = f"{cache.ref.namespace}:comparison-lock:{params}"
    client.set(lock, "1", px=5000)  # another request is computing, and none ever finished

    def other_request_lands() -> None:
        time.sleep(0.3)
        client.delete(lock)
        cached_compare(ComparisonCache(cache.ref), me, friend)

    threading.Thread(target=other_request_lands).start()
    started = time.monotonic()
    result = cached_compare(cache, me, friend)

    assert result.shared_count == 1
    assert time.monotonic() - started >= 0.25  # it waited, instead of computing at once


def test_a_library_pages_stamp_touch_rides_in_its_artist_sends_round_trip(db, broker, app_settings):
    ref = RedisRef(broker.client, broker.namespace)
    [before] = LibraryStamps(ref).current([7])
    ctx = SyncContext.build(app_settings.but(redis_namespace=broker.namespace), broker.client)

    with RoundTrips().counting() as trips:
        sent = ctx.page_stored([7], ["a" * 22, "b" * 22])

    assert sent == 2
    assert broker.client.hlen(f"{broker.namespace}:{queueing.ARTISTS_QUEUE}.msgs") == 2
    [after] = LibraryStamps(ref).current([7])
    assert after != before  # the comparisons see the page
    assert dict(trips.sites) == {"redis jobs.pipelined._dispatch_pipelined": 1}


def test_a_page_with_nothing_to_send_still_touches_the_stamp(db, broker, app_settings):
    ref = RedisRef(broker.client, broker.namespace)
    [before] = LibraryStamps(ref).current([7])
    ctx = SyncContext.build(app_settings.but(redis_namespace=broker.namespace), broker.client)

    assert ctx.page_stored([7], []) == 0

    assert LibraryStamps(ref).current([7]) != [before]
