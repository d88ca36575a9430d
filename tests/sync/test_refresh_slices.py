"""The monthly refresh in slices: Redis holds only what the page rate takes before the next
slice, the rest waits in the database, and no artist is sent twice however the slices
meet (two schedulers, a slice that dies, a pass begun again)."""

from __future__ import annotations

import threading

import dramatiq
import pytest
import redis

from actors.redis_broker import redis_ref
from actors.testing import wait_for
from jobs import queueing
from models import Artist, ArtistListeners, current_month
from models.artist import ArtistFields
from sync import refresh_slices
from sync.refresh_slices import AHEAD_S, RefreshPass

# 12 messages a slice: 0.1 page a second for two minutes.
RATE = 0.1
BUDGET = round(RATE * AHEAD_S)


def artists(n: int) -> list[str]:
    """``n`` complete artists with no count this month; their Spotify ids in id order."""
    names = [f"{i:022d}" for i in range(n)]
    Artist.upsert_many([ArtistFields(s, s, "u", None, True) for s in names])
    return names


def take(broker: dramatiq.Broker, n: int | None = None) -> list[str]:
    """Take and finish at once ``n`` of the bulk queue's messages (all with None), as a
    worker would; their artist ids, in the order taken."""
    taken: list[str] = []
    consumer = broker.consume(queueing.BULK_QUEUE, prefetch=n or 50, timeout=100)
    try:
        while n is None or len(taken) < n:
            message = next(consumer)
            if message is None:
                break
            taken.append(message.args[0])
            consumer.ack(message)
    finally:
        consumer.close()
    return taken


def test_a_slice_sends_what_the_page_rate_takes_until_the_next_and_the_rest_wait(db, broker):
    names = artists(40)
    refresh = RefreshPass(redis_ref(broker))

    first = refresh.send_slice(RATE)
    again = refresh.send_slice(RATE)

    assert (first.sent, first.queued, first.done) == (BUDGET, 0, False)
    assert refresh.queued() == BUDGET
    # A slice while the queue is still full sends nothing.
    assert (again.sent, again.queued) == (0, BUDGET)
    # When the workers finish five, the next slice tops the queue up with the next five.
    assert take(broker, 5) == names[:5]
    topped = refresh.send_slice(RATE)
    assert (topped.sent, topped.queued) == (5, BUDGET - 5)
    assert sorted(take(broker)) == names[5 : BUDGET + 5]


def test_a_pass_sends_every_outdated_artist_once_then_stops(db, broker, monkeypatch):
    # Small windows, so the scan walks many of them and crosses stretches with none.
    monkeypatch.setattr(refresh_slices, "WINDOW", 7)
    names = artists(60)
    ids = {a.spotify_id: a.id for a in Artist.select()}
    month = current_month()
    for up_to_date in names[10:30]:
        ArtistListeners.record(ids[up_to_date], 5, month)
    Artist.update(gone_at=Artist.created_at).where(Artist.spotify_id == names[40]).execute()
    refresh = RefreshPass(redis_ref(broker))

    sent: list[str] = []
    slices = 0
    while not refresh.state()[1]:
        refresh.send_slice(RATE)
        sent += take(broker)
        slices += 1

    assert sent == names[:10] + names[30:40] + names[41:]
    assert slices == 4  # 39 artists, 12 a slice
    assert refresh.send_slice(RATE).sent == 0


def test_two_slices_at_once_send_no_artist_twice(db, broker):
    names = artists(40)
    start = threading.Barrier(2)
    results = []

    def one_scheduler() -> None:
        refresh = RefreshPass(redis_ref(broker))
        start.wait()
        results.append(refresh.send_slice(RATE))

    threads = [threading.Thread(target=one_scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.sent for r in results) == BUDGET
    assert sorted(take(broker)) == names[:BUDGET]


def test_a_slice_that_dies_before_redis_takes_it_sends_and_moves_nothing(db, broker, monkeypatch):
    names = artists(20)
    refresh = RefreshPass(redis_ref(broker))
    real_execute = redis.client.Pipeline.execute

    def dies(pipe, *args, **kwargs):
        if len(pipe.command_stack) > 2:  # the slice's send, not the queue count
            raise redis.ConnectionError("the process died here")
        return real_execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", dies)
    with pytest.raises(redis.ConnectionError):
        refresh.send_slice(RATE)
    monkeypatch.undo()

    assert refresh.state() == (0, False)
    assert refresh.queued() == 0
    # The lock went with it, so the next tick sends the same artists.
    assert refresh.send_slice(RATE).sent == BUDGET
    assert sorted(take(broker)) == names[:BUDGET]


def test_a_new_pass_begins_only_once_the_last_is_done(db, broker):
    artists(5)
    refresh = RefreshPass(redis_ref(broker))

    assert refresh.start() is False  # this month's pass has not run yet: it is the new one
    refresh.send_slice(RATE)
    assert refresh.state()[1] is True
    take(broker)
    assert refresh.start() is True
    assert refresh.send_slice(RATE).sent == 5


def test_each_artist_page_is_read_once_a_month_however_often_the_refresh_passes(
    db, broker, worker, demo_spotify
):
    names = sorted(demo_spotify.catalog.expected_artist_ids("ben", "followed"))[:30]
    Artist.upsert_many([ArtistFields(s, s, "u", None, True) for s in names])
    month = current_month()
    refresh = RefreshPass(redis_ref(broker))

    def counted() -> int:
        return ArtistListeners.select().where(ArtistListeners.month == month).count()

    # When a pass runs to its end, a new pass begins and the refresh is sent once more
    # besides (all of it at once, as before slices):
    while not refresh.state()[1]:
        refresh.send_slice(10.0)
        wait_for(lambda: refresh.queued() == 0, timeout=60, what="the slice's messages")
    wait_for(lambda: counted() == 30, timeout=60, what="every count")
    assert refresh.start() is True
    refresh.send_slice(10.0)
    queueing.send_many(queueing.UPDATE_ARTIST, queueing.BULK_QUEUE, [[s] for s in names])
    wait_for(lambda: refresh.queued() == 0, timeout=60, what="the second pass")

    # Then every artist's page was read once.
    assert demo_spotify.stats()["requests"]["open"] == 30
