"""A host's clock against Redis's: the offset measured with ``TIME``, in words, and the
correction every timestamp of the process then takes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from config.redis_ref import RedisRef
from models.db import set_clock_offset, utcnow
from ops.clock import RedisClock, describe_offset


@pytest.fixture(autouse=True)
def _offset_left_as_found() -> Iterator[None]:
    yield
    set_clock_offset(0.0)


def shifted(seconds: float):
    return lambda: time.time() + seconds


def test_a_host_120_s_ahead_measures_120_s_ahead_and_is_skewed(redis_client, namespace):
    clock = RedisClock(host_time=shifted(120))

    offset = clock.measure(RedisRef(redis_client, namespace))

    assert -121 < offset < -119
    assert clock.skewed
    assert clock.describe().endswith("s ahead of Redis's")
    # Its timestamps are on Redis's clock all the same.
    assert abs(clock.now() - time.time()) < 1


def test_a_host_within_5_s_is_not_skewed_and_its_stamps_are_corrected(redis_client, namespace):
    clock = RedisClock(host_time=shifted(-3))

    offset = clock.measure(RedisRef(redis_client, namespace))

    assert 2 < offset < 4 and not clock.skewed
    # utcnow (every job row's stamp) adds what the worker measured.
    assert (
        abs((utcnow() - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() - offset)
        < 0.5
    )


def test_a_clock_not_yet_compared_is_not_skewed():
    clock = RedisClock()
    assert not clock.skewed
    assert clock.describe() == "not compared with Redis's yet"


def test_the_offset_in_words_says_which_way():
    assert describe_offset(-120.04) == "120.0 s ahead of Redis's"
    assert describe_offset(119.96) == "120.0 s behind Redis's"


def test_an_answer_slower_than_the_offset_holds_no_worker(namespace):
    # Given a host 6 s ahead whose TIME answer takes 4 s (2 s each way: a loaded machine),
    # the offset is known only to within 2 s: maybe 4 s ahead, within the bound.
    readings = iter([1_000.0, 1_004.0])
    clock = RedisClock(host_time=lambda: next(readings))
    redis_now = 1_000.0 + 2 - 6  # Redis answered in the middle, 6 s behind the host

    class SlowRedis:
        def time(self):
            return int(redis_now), round((redis_now % 1) * 1e6)

    offset = clock.measure(RedisRef(SlowRedis(), namespace))  # type: ignore[arg-type]

    assert offset == -6 and clock.uncertainty == 2
    assert not clock.skewed


def test_dramatiq_stamps_heartbeats_and_due_times_on_the_corrected_clock(broker):
    # Given a worker host 4 s behind Redis (under the 5 s hold, so it keeps fetching): its
    # offset measured, +4 s.
    set_clock_offset(4.0)
    actor = broker.get_actor("update_artist")

    # When its broker sends a message due in a minute (a call that stamps its heartbeat):
    message = actor.send_with_options(args=("x" * 22,), delay=60_000)

    # Then the due time and the heartbeat are 4 s ahead of this host's clock, as Redis's
    # clock is: a live worker 4 s behind never looks 4 s stale to a 5 s timeout.
    host_ms = time.time() * 1000
    assert 63_000 < message.options["eta"] - host_ms <= 64_000
    [(_, stamp)] = broker.client.zrange(
        f"{broker.namespace}:__heartbeats__", 0, -1, withscores=True
    )
    assert 3_000 < stamp - host_ms <= 4_000
