"""Every processed message is counted by actor and outcome, and timed into the duration
histogram, through a real worker."""

from __future__ import annotations

import time

import dramatiq
from prometheus_client.parser import text_string_to_metric_families

from actors.testing import wait_for
from config.redis_ref import RedisRef
from jobs.queueing import ARTISTS_QUEUE, BULK_QUEUE
from models import JobRun
from ops.counters import JobCounts, job_totals, jobs_per_minute
from ops.metrics import render_metrics


def test_counters_count_each_processed_message_by_actor_and_outcome(broker, worker):
    @dramatiq.actor(broker=broker, actor_name="ops_counted_ok", queue_name=ARTISTS_QUEUE)
    def ok(n: int) -> None:
        time.sleep(0.02)

    @dramatiq.actor(
        broker=broker, actor_name="ops_counted_broken", queue_name=BULK_QUEUE,
        max_retries=1, min_backoff=10, max_backoff=10,
    )  # fmt: skip
    def broken() -> None:
        raise ValueError("always")

    @dramatiq.actor(
        broker=broker, actor_name="ops_counted_tracked", queue_name=ARTISTS_QUEUE, tracked=True
    )
    def tracked() -> None:
        """Never runs: its job has already finished, so JobRuns skips the message."""

    for n in range(5):
        ok.send(n)
    broken.send()
    done = tracked.message()
    JobRun.open(
        message_id=done.message_id, actor="ops_counted_tracked", args=[], subject="ops-test:1",
        queue=ARTISTS_QUEUE, status="succeeded",
    )  # fmt: skip
    broker.enqueue(done)

    def counted() -> dict[str, JobCounts]:
        totals = job_totals(RedisRef.of(broker))
        ok_done = totals.get("ops_counted_ok", JobCounts()).succeeded == 5
        broken_done = totals.get("ops_counted_broken", JobCounts()).failed == 1
        skipped = totals.get("ops_counted_tracked", JobCounts()).skipped == 1
        return totals if ok_done and broken_done and skipped else {}

    totals = wait_for(counted, timeout=30, what="the counts in Redis")

    assert totals["ops_counted_ok"].processed == 5
    assert totals["ops_counted_ok"].duration_ms >= 5 * 20
    broken_counts = totals["ops_counted_broken"]
    assert (broken_counts.retried, broken_counts.failed, broken_counts.succeeded) == (1, 1, 0)
    assert totals["ops_counted_tracked"].processed == totals["ops_counted_tracked"].skipped == 1
    series = jobs_per_minute(RedisRef.of(broker), minutes=3)
    assert sum(m.finished for m in series) == 6  # 5 succeeded, 1 failed for good
    assert sum(m.failed for m in series) == 2  # the failure and the retried attempt


def test_a_real_worker_s_job_durations_reach_the_metrics_histogram(broker, worker, db):
    # Given jobs that take known times, chosen in the middle of wide buckets so that the
    # middleware's own few milliseconds cannot move them...
    @dramatiq.actor(broker=broker, actor_name="ops_timed", queue_name=ARTISTS_QUEUE)
    def timed(seconds: float) -> None:
        time.sleep(seconds)

    for seconds in (0.12, 0.12, 0.6):
        timed.send(seconds)

    # ...when the worker has run them and flushed its counts,
    ref = RedisRef.of(broker)
    wait_for(
        lambda: job_totals(ref).get("ops_timed", JobCounts()).processed == 3,
        timeout=30,
        what="the three timed jobs counted",
    )
    families = text_string_to_metric_families(render_metrics(ref).decode())
    [durations] = [f for f in families if f.name == "overlap_job_duration_seconds"]
    mine = [x for x in durations.samples if x.labels["actor"] == "ops_timed"]
    s = {(x.name, x.labels.get("le")): x.value for x in mine}

    # then /metrics puts each in its bucket, with their count and total time.
    bucket = "overlap_job_duration_seconds_bucket"
    assert [s[(bucket, le)] for le in ("0.1", "0.25", "0.5", "1.0", "+Inf")] == [0, 2, 2, 3, 3]
    assert s[("overlap_job_duration_seconds_count", None)] == 3
    assert 0.84 <= s[("overlap_job_duration_seconds_sum", None)] < 1.2
