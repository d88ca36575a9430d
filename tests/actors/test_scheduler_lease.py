"""The scheduler lease in Redis: one holder among many asking, a standby that takes over
when the holder goes silent, each tick claimed once, and a status that names the holder."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import redis

from actors.scheduler_lease import (
    Claim,
    SchedulerLease,
    last_tick_key,
    lease_key,
    scheduler_status,
)
from config.redis_ref import RedisRef

TICK = dt.datetime(2026, 5, 4, 12, 30, tzinfo=dt.UTC)


def lease(redis_url: str, namespace: str, name: str, ttl_ms: int = 15_000) -> SchedulerLease:
    """A scheduler's lease with a connection of its own, as another process would have."""
    client = redis.Redis.from_url(redis_url)
    return SchedulerLease(
        RedisRef(client, namespace),
        ttl=dt.timedelta(milliseconds=ttl_ms),
        holder_id=f"host-{name}:1",
    )


def ask_at_once(contenders: list[SchedulerLease]) -> list[str]:
    """Every contender asks for the lease at the same moment; those that got it."""
    barrier = threading.Barrier(len(contenders))
    took: list[str] = []

    def ask(contender: SchedulerLease) -> None:
        barrier.wait()
        if contender.keep():
            took.append(contender.holder_id)

    threads = [threading.Thread(target=ask, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return took


def test_of_many_schedulers_asking_at_once_exactly_one_takes_the_lease(redis_url, namespace):
    contenders = [lease(redis_url, namespace, str(i)) for i in range(8)]
    for _ in range(20):
        took = ask_at_once(contenders)

        assert len(took) == 1, took
        contenders[0].ref.client.delete(lease_key(contenders[0].ref))


def test_the_holder_keeps_its_lease_alive_and_a_standby_cannot_take_it(redis_url, namespace):
    holder = lease(redis_url, namespace, "a", ttl_ms=400)
    standby = lease(redis_url, namespace, "b", ttl_ms=400)
    assert holder.keep()

    deadline = time.monotonic() + 1.5  # almost four lease periods
    while time.monotonic() < deadline:
        assert not standby.keep()
        assert holder.keep()
        time.sleep(0.1)

    assert scheduler_status(holder.ref)["holder"] == "host-a:1"


def test_a_standby_takes_the_lease_within_one_lease_period_of_the_holder_s_silence(
    redis_url, namespace
):
    holder = lease(redis_url, namespace, "a", ttl_ms=600)
    standby = lease(redis_url, namespace, "b", ttl_ms=600)
    assert holder.keep()
    silent_from = time.monotonic()  # the holder dies here

    while not standby.keep():
        time.sleep(0.02)
    took_over_after = time.monotonic() - silent_from

    assert 0.4 < took_over_after < 0.6 + 0.3, took_over_after
    assert not holder.keep()  # the old holder, back from a pause, is a standby now
    assert scheduler_status(holder.ref)["holder"] == "host-b:1"


def test_only_the_holder_claims_a_tick_and_only_once_a_minute(redis_url, namespace):
    holder = lease(redis_url, namespace, "a")
    standby = lease(redis_url, namespace, "b")
    assert holder.keep()

    assert holder.claim_tick("recover", TICK) is Claim.SEND
    assert holder.claim_tick("recover", TICK) is Claim.ALREADY_SENT
    assert holder.claim_tick("recover", TICK + dt.timedelta(seconds=27)) is Claim.ALREADY_SENT
    assert standby.claim_tick("recover", TICK + dt.timedelta(minutes=1)) is Claim.NOT_HOLDER
    assert holder.claim_tick("recover", TICK + dt.timedelta(minutes=1)) is Claim.SEND
    assert holder.claim_tick("refresh_listeners", TICK) is Claim.SEND  # one claim per actor


def test_a_takeover_at_a_tick_boundary_cannot_send_the_tick_again(redis_url, namespace):
    holder = lease(redis_url, namespace, "a", ttl_ms=300)
    standby = lease(redis_url, namespace, "b", ttl_ms=300)
    assert holder.claim_tick("recover", TICK) is Claim.SEND  # and the holder dies

    while standby.claim_tick("recover", TICK) is Claim.NOT_HOLDER:
        time.sleep(0.02)

    assert standby.claim_tick("recover", TICK) is Claim.ALREADY_SENT
    assert standby.claim_tick("recover", TICK + dt.timedelta(minutes=1)) is Claim.SEND


def test_schedulers_handing_the_lease_round_send_each_tick_at_most_once(redis_url, namespace):
    """Eight schedulers race over 60 ticks, the holder giving the lease up after each of its
    sends, so that the lease changes hands at nearly every tick boundary."""
    contenders = [lease(redis_url, namespace, str(i)) for i in range(8)]
    barrier = threading.Barrier(len(contenders))
    sent: Counter[dt.datetime] = Counter()
    lock = threading.Lock()

    def run(contender: SchedulerLease) -> None:
        for minute in range(60):
            tick = TICK + dt.timedelta(minutes=minute)
            barrier.wait()
            for _ in range(3):  # a late scheduler tries again, as a standby catching up
                if contender.claim_tick("recover", tick) is Claim.SEND:
                    with lock:
                        sent[tick] += 1
                    contender.release()

    threads = [threading.Thread(target=run, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert max(sent.values()) == 1, sent.most_common(3)
    assert len(sent) >= 50  # most ticks did go out


def test_a_released_lease_is_taken_at_once_and_only_its_holder_may_release_it(redis_url, namespace):
    holder = lease(redis_url, namespace, "a")
    standby = lease(redis_url, namespace, "b")
    assert holder.keep()

    assert not standby.release()
    assert scheduler_status(holder.ref)["holder"] == "host-a:1"
    assert holder.release()
    assert standby.keep()


def test_the_status_names_the_holder_since_when_its_expiry_and_the_last_tick(
    redis_url, redis_client, namespace
):
    empty = scheduler_status(RedisRef(redis_client, namespace))
    assert set(empty.values()) == {None}

    holder = lease(redis_url, namespace, "a", ttl_ms=15_000)
    took_at = dt.datetime.now(dt.UTC)
    assert holder.claim_tick("recover", TICK) is Claim.SEND
    redis_client.set(last_tick_key(holder.ref), str(took_at.timestamp()))
    status = scheduler_status(RedisRef(redis_client, namespace))

    assert status["holder"] == "host-a:1"
    assert abs(status["since"] - took_at) < dt.timedelta(seconds=2)
    expires_in = status["lease_expires_at"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=13) < expires_in <= dt.timedelta(seconds=15)
    assert status["last_tick"] == TICK
    assert status["last_tick_by"] == "host-a:1"
    assert abs(status["last_sent_at"] - took_at) < dt.timedelta(seconds=2)
    assert abs(status["last_recovery_at"] - took_at) < dt.timedelta(seconds=1)

    holder.release()
    after = scheduler_status(RedisRef(redis_client, namespace))
    assert (after["holder"], after["since"], after["lease_expires_at"]) == (None, None, None)
    assert after["last_tick_by"] == "host-a:1"  # what was last sent stays known
