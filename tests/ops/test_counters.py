"""Per-minute and total job counters, and the totals' duration buckets: buffered in a
process, added to Redis in one go."""

from __future__ import annotations

import datetime as dt

import pytest
import redis

from cli.embedded_redis import free_port
from config.redis_ref import RedisRef
from ops.counters import (
    MINUTE_TTL,
    CounterBuffer,
    JobCounts,
    durations,
    job_totals,
    jobs_per_minute,
    minute_key,
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_counts_land_in_the_minute_they_happened_and_in_the_totals(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    start = 1_800_000_000 - 1_800_000_000 % 60  # the start of a minute
    clock = Clock(start + 58)
    buffer = CounterBuffer(clock)
    buffer.record("update_artist", "succeeded", 12)
    buffer.record("update_artist", "succeeded", 8)
    clock.now = start + 61
    buffer.record("update_artist", "failed", 100)
    buffer.record("update_user", "retried", 5_000)

    buffer.flush(ref)
    series = jobs_per_minute(ref, minutes=3, now=start + 61)

    assert [m.minute for m in series] == [
        dt.datetime.fromtimestamp(start + d, tz=dt.UTC) for d in (-60, 0, 60)
    ]
    assert [(m.finished, m.failed) for m in series] == [(0, 0), (2, 0), (1, 2)]
    assert series[1].by_actor == {
        "update_artist": JobCounts(succeeded=2, duration_ms=20, by_bucket={10: 1, 25: 1})
    }
    assert series[2].by_actor == {
        "update_artist": JobCounts(failed=1, duration_ms=100, by_bucket={100: 1}),
        "update_user": JobCounts(retried=1, duration_ms=5_000, by_bucket={5_000: 1}),
    }
    assert job_totals(ref) == {
        "update_artist": JobCounts(
            succeeded=2, failed=1, duration_ms=120, by_bucket={10: 1, 25: 1, 100: 1}
        ),
        "update_user": JobCounts(retried=1, duration_ms=5_000, by_bucket={5_000: 1}),
    }
    assert 0 < redis_client.ttl(minute_key(ref, start // 60)) <= MINUTE_TTL
    assert buffer.flush(ref) == 0  # nothing sent twice
    for key in redis_client.scan_iter(f"{namespace}*"):
        redis_client.delete(key)


def test_counts_wait_in_the_buffer_while_redis_is_away(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    buffer = CounterBuffer()
    buffer.record("update_artist", "succeeded", 3)
    away = redis.Redis(port=free_port(), socket_connect_timeout=0.5)

    with pytest.raises(redis.RedisError):
        buffer.flush(RedisRef(away, namespace))
    buffer.record("update_artist", "succeeded", 4)
    buffer.flush(ref)

    assert job_totals(ref) == {
        "update_artist": JobCounts(succeeded=2, duration_ms=7, by_bucket={5: 2})
    }
    for key in redis_client.scan_iter(f"{namespace}*"):
        redis_client.delete(key)


def test_the_chart_spans_at_most_two_hours(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    assert len(jobs_per_minute(ref, minutes=10_000)) == 120
    assert len(jobs_per_minute(ref, minutes=0)) == 1


def test_each_duration_counts_in_the_one_bucket_whose_bound_it_reaches(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    buffer = CounterBuffer()
    for ms in (0, 5, 6, 10, 1_000, 1_001, 1_800_000, 1_800_001):
        buffer.record("update_user", "succeeded", ms)

    buffer.flush(ref)
    counts = job_totals(ref)["update_user"]

    # A bound is "at most": 5 ms is in le=5, 6 ms in le=10; past the last bound, in none.
    assert counts.by_bucket == {5: 2, 10: 2, 1_000: 1, 2_500: 1, 1_800_000: 1}
    assert redis_client.hget(f"{namespace}:ops:jobs:total", "update_user|le_ms:5") == b"2"
    cumulative = dict(counts.cumulative_buckets())
    assert (cumulative[0.005], cumulative[0.01], cumulative[0.5], cumulative[1.0]) == (2, 4, 4, 5)
    assert (cumulative[1800.0], cumulative[float("inf")]) == (7, 8)
    for key in redis_client.scan_iter(f"{namespace}*"):
        redis_client.delete(key)


def test_counts_from_before_the_buckets_are_only_in_the_last_one(redis_client, namespace):
    # Given totals a version without buckets wrote, then one message counted with them...
    ref = RedisRef(redis_client, namespace)
    redis_client.hset(
        f"{namespace}:ops:jobs:total",
        mapping={"update_artist|succeeded": 10, "update_artist|duration_ms": 400},
    )
    buffer = CounterBuffer()
    buffer.record("update_artist", "succeeded", 7)
    buffer.flush(ref)

    # ...the old ten are known to have taken some time, no more.
    cumulative = job_totals(ref)["update_artist"].cumulative_buckets()

    assert cumulative[0] == (0.005, 0)
    assert cumulative[1] == (0.01, 1)
    assert cumulative[-2] == (1800.0, 1)
    assert cumulative[-1] == (float("inf"), 11)
    for key in redis_client.scan_iter(f"{namespace}*"):
        redis_client.delete(key)


def test_durations_give_each_actors_percentiles_over_the_minutes_from_the_buckets(
    redis_client, namespace
):
    ref = RedisRef(redis_client, namespace)
    start = 1_800_000_000
    buffer = CounterBuffer(clock=lambda: start)
    for _ in range(90):
        buffer.record("update_artist", "succeeded", 4)  # the 5 ms bucket
    for _ in range(10):
        buffer.record("update_artist", "succeeded", 800)  # the 1 s bucket
    buffer.record("update_user", "succeeded", 40 * 60_000)  # beyond the last bound
    buffer.flush(ref)

    [artist, user] = durations(jobs_per_minute(ref, minutes=60, now=start + 30))

    assert (artist.actor, artist.count) == ("update_artist", 100)
    assert artist.p50 == pytest.approx(5 * 50 / 90)  # linear within 0-5 ms
    assert 500 < artist.p95 <= 1_000 and 500 < artist.p99 <= 1_000
    assert artist.p95 < artist.p99
    assert (user.count, user.p50, user.p99) == (1, 1_800_000, 1_800_000)
    assert durations(jobs_per_minute(ref, minutes=60, now=start + 2 * 3600)) == []
    for key in redis_client.scan_iter(f"{namespace}*"):
        redis_client.delete(key)
