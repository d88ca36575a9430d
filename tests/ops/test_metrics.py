"""The /metrics exposition: job durations as a Prometheus histogram per actor."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.redis_ref import RedisRef
from ops.counters import CounterBuffer
from ops.metrics import render_metrics

FAMILY = "overlap_job_duration_seconds"


def duration_samples(exposition: bytes) -> dict[tuple[str, str, str], float]:
    """(sample name, actor, le) -> value of the duration family's samples."""
    [family] = [f for f in text_string_to_metric_families(exposition.decode()) if f.name == FAMILY]
    assert family.type == "histogram"
    return {(s.name, s.labels["actor"], s.labels.get("le", "")): s.value for s in family.samples}


def buckets(samples: dict[tuple[str, str, str], float], actor: str) -> dict[str, float]:
    """One actor's bucket counts by their ``le``."""
    return {
        le: v for (name, who, le), v in samples.items() if name.endswith("_bucket") and who == actor
    }


def test_job_durations_are_a_histogram_with_buckets_sum_and_count_per_actor(
    db, redis_client, namespace
):
    # Given a worker's counts of messages with known durations...
    ref = RedisRef(redis_client, namespace)
    buffer = CounterBuffer()
    for ms in (3, 4, 5, 40, 180):
        buffer.record("update_artist", "succeeded", ms)
    buffer.record("update_artist", "failed", 1_500)
    buffer.record("update_user", "succeeded", 95_000)
    buffer.record("update_user", "retried", 2_000_000)  # past the last bound
    buffer.flush(ref)

    # ...when /metrics is rendered,
    s = duration_samples(render_metrics(ref))

    # then each actor has cumulative buckets, a sum of the seconds and a count.
    artist = buckets(s, "update_artist")
    assert (artist["0.005"], artist["0.01"], artist["0.05"], artist["0.1"]) == (3, 3, 4, 4)
    assert (artist["0.25"], artist["1.0"], artist["2.5"], artist["+Inf"]) == (5, 5, 6, 6)
    assert s[(f"{FAMILY}_count", "update_artist", "")] == 6
    assert s[(f"{FAMILY}_sum", "update_artist", "")] == pytest.approx(1.732)
    user = buckets(s, "update_user")
    assert (user["60.0"], user["120.0"], user["1800.0"], user["+Inf"]) == (0, 1, 1, 2)
    assert len(user) == 18  # 17 bounds and +Inf
    assert s[(f"{FAMILY}_count", "update_user", "")] == 2
    assert s[(f"{FAMILY}_sum", "update_user", "")] == pytest.approx(2_095.0)
    for key in redis_client.scan_iter(f"{namespace}*"):
        redis_client.delete(key)


def test_workers_whose_clock_holds_them_are_counted_with_each_worker_s_offset(
    db, redis_client, namespace
):
    import datetime as dt

    from ops.workers import WorkerInfo, write_worker

    ref = RedisRef(redis_client, namespace)
    now = dt.datetime.now(dt.UTC)
    for worker_id, offset, held in (("a", -120.0, True), ("b", 0.01, False), ("c", None, False)):
        write_worker(ref, WorkerInfo(
            id=worker_id, host="h", pid=1, queues=("bulk",), threads=1, started_at=now,
            heartbeat_at=now, broker_id=worker_id, clock_offset=offset, clock_held=held,
        ))  # fmt: skip

    families = {f.name: f for f in text_string_to_metric_families(render_metrics(ref).decode())}

    [held_count] = families["overlap_workers_clock_held"].samples
    assert held_count.value == 1
    offsets = {
        s.labels["worker"]: s.value for s in families["overlap_worker_clock_offset_seconds"].samples
    }
    assert offsets == {"a": -120.0, "b": 0.01}  # c has not compared yet: no sample
