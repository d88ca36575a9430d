"""Pausing a queue: its messages wait (none runs, none is lost) while the other queues go
on, and they all run once it is resumed."""

from __future__ import annotations

import threading
import time

import dramatiq

from actors.middleware.queue_pause import QueuePause
from actors.testing import enqueued, job_finished, wait_for
from config.redis_ref import RedisRef
from jobs.queueing import ARTISTS_QUEUE, BULK_QUEUE, INTERACTIVE_QUEUE
from models import JobRun
from ops.counters import job_totals
from ops.pause import pause_queue, paused_queues, resume_queue
from ops.queues import position_in_queue, queue_stats


class Recorder:
    """What the test actors ran, from any worker thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[tuple[str, int]] = []

    def add(self, queue: str, n: int) -> None:
        with self.lock:
            self.ran.append((queue, n))

    def of(self, queue: str) -> list[int]:
        with self.lock:
            return sorted(n for q, n in self.ran if q == queue)


def pause_watcher(broker) -> QueuePause:
    return next(m for m in broker.middleware if isinstance(m, QueuePause))


def stats(broker, queue: str):
    return next(s for s in queue_stats(RedisRef.of(broker)) if s.queue == queue)


def test_pause_and_resume_switch_a_queue_for_every_worker(redis_client, namespace):
    ref = RedisRef(redis_client, namespace)
    assert pause_queue(ref, BULK_QUEUE)
    assert not pause_queue(ref, BULK_QUEUE)  # already paused
    assert redis_client.smembers(f"{namespace}:ops:paused") == {BULK_QUEUE.encode()}
    assert paused_queues(ref) == {BULK_QUEUE}
    assert resume_queue(ref, BULK_QUEUE)
    assert paused_queues(ref) == frozenset()
    redis_client.delete(f"{namespace}:ops:paused")


def test_a_paused_queue_s_messages_wait_while_others_run_and_all_run_after_resume(broker, worker):
    recorder = Recorder()

    @dramatiq.actor(broker=broker, actor_name="ops_test_bulk", queue_name=BULK_QUEUE)
    def on_bulk(n: int) -> None:
        recorder.add(BULK_QUEUE, n)

    @dramatiq.actor(broker=broker, actor_name="ops_test_artists", queue_name=ARTISTS_QUEUE)
    def on_artists(n: int) -> None:
        recorder.add(ARTISTS_QUEUE, n)

    pause_queue(RedisRef.of(broker), BULK_QUEUE)
    # The worker stops fetching bulk: its consumer thread settles in its paused loop.
    consumer = worker.consumers[BULK_QUEUE]
    wait_for(consumer.paused_event.is_set, timeout=15, what="the bulk consumer to pause")
    first = on_bulk.send(0)
    for n in range(1, 30):
        on_bulk.send(n)
    for n in range(30):
        on_artists.send(n)

    # The other queue goes on...
    wait_for(lambda: len(recorder.of(ARTISTS_QUEUE)) == 30, timeout=30, what="artists to run")
    time.sleep(1.5)  # ...and bulk had every chance to run, had the pause not held.
    assert recorder.of(BULK_QUEUE) == []
    held = stats(broker, BULK_QUEUE)
    # None lost, none even fetched: they wait in Redis, in their order.
    assert (held.paused, held.waiting, held.delayed, held.running) == (True, 30, 0, 0)
    assert position_in_queue(RedisRef.of(broker), BULK_QUEUE, first.message_id) == 0

    resume_queue(RedisRef.of(broker), BULK_QUEUE)
    wait_for(lambda: len(recorder.of(BULK_QUEUE)) >= 30, timeout=30, what="bulk to run")
    broker.join(BULK_QUEUE, timeout=10_000)
    worker.join()
    assert recorder.of(BULK_QUEUE) == list(range(30))  # each exactly once
    assert recorder.of(ARTISTS_QUEUE) == list(range(30))


def test_a_message_fetched_before_the_pause_goes_back_without_a_retry_or_a_claimed_job(broker, db):
    """One worker thread, busy, has already fetched the tracked message when the pause comes:
    the message goes back to Redis as it was, its job row stays queued, nothing counts it."""
    recorder, busy, release = Recorder(), threading.Event(), threading.Event()

    @dramatiq.actor(broker=broker, actor_name="ops_test_blocker", queue_name=INTERACTIVE_QUEUE)
    def blocker() -> None:
        busy.set()
        release.wait(30)

    @dramatiq.actor(
        broker=broker, actor_name="ops_test_tracked", queue_name=INTERACTIVE_QUEUE, tracked=True
    )
    def tracked(n: int) -> None:
        recorder.add(INTERACTIVE_QUEUE, n)

    worker = dramatiq.Worker(
        broker, queues={INTERACTIVE_QUEUE}, worker_threads=1, worker_timeout=100
    )  # prefetches two: the one running and one more
    worker.start()
    try:
        blocker.send()
        assert busy.wait(10)
        message = tracked.message(7)
        job, _ = JobRun.open(
            message_id=message.message_id, actor="ops_test_tracked", args=[7],
            subject="ops-test:7", queue=INTERACTIVE_QUEUE,
        )  # fmt: skip
        broker.enqueue(message)
        wait_for(
            lambda: stats(broker, INTERACTIVE_QUEUE).running == 2,
            timeout=10,
            what="the worker to prefetch the tracked message",
        )
        pause_queue(RedisRef.of(broker), INTERACTIVE_QUEUE)
        wait_for(lambda: INTERACTIVE_QUEUE in pause_watcher(broker).paused, timeout=10)

        release.set()
        back = wait_for(
            lambda: (
                enqueued(broker, INTERACTIVE_QUEUE, delayed=True)
                or enqueued(broker, INTERACTIVE_QUEUE)
            ),
            timeout=10,
            what="the tracked message back in Redis",
        )

        assert [m.message_id for m in back] == [message.message_id]
        assert "retries" not in back[0].options  # not counted as a retry
        row = JobRun.get_by_id(job.id)
        assert (row.status, row.attempts, row.started_at) == ("queued", 0, None)
        assert recorder.of(INTERACTIVE_QUEUE) == []

        resume_queue(RedisRef.of(broker), INTERACTIVE_QUEUE)
        done = wait_for(job_finished(job.id), timeout=30, what="the job after the resume")
        assert (done.status, done.attempts) == ("succeeded", 1)
        assert recorder.of(INTERACTIVE_QUEUE) == [7]
    finally:
        release.set()
        worker.stop()
    # The put-back was no outcome: the job counted once, as a success.
    counts = job_totals(RedisRef.of(broker))["ops_test_tracked"]
    assert (counts.succeeded, counts.skipped, counts.retried) == (1, 0, 0)


def test_a_worker_whose_clock_is_120_s_ahead_fetches_nothing_until_it_is_set_right(
    broker, db, caplog
):
    """Its clock compared with Redis's before its consumers start, the worker fetches
    nothing, not even its delay queues, runs no maintenance, keeps Dramatiq's heartbeat on
    Redis's clock and says why once; set right, it fetches again."""
    from models.db import set_clock_offset
    from ops.workers import live_workers

    recorder = Recorder()

    @dramatiq.actor(broker=broker, actor_name="ops_test_clocked", queue_name=ARTISTS_QUEUE)
    def clocked(n: int) -> None:
        recorder.add(ARTISTS_QUEUE, n)

    watcher = pause_watcher(broker)
    ahead = lambda: time.time() + 120  # noqa: E731
    watcher.clock.host_time = ahead
    chance = broker.maintenance_chance
    clocked.send(1)
    clocked.send_with_options(args=(2,), delay=100)
    worker = dramatiq.Worker(broker, queues={ARTISTS_QUEUE}, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        # Every consumer, the delay queue's too, waits in its paused loop from the start.
        for consumer in worker.consumers.values():
            wait_for(consumer.paused_event.is_set, timeout=15, what="the consumers to pause")
        time.sleep(1.5)
        assert recorder.of(ARTISTS_QUEUE) == []
        held = stats(broker, ARTISTS_QUEUE)
        assert (held.waiting, held.delayed, held.running) == (1, 1, 0)
        assert broker.maintenance_chance == 0
        [entry] = wait_for(lambda: live_workers(RedisRef.of(broker)), 10, "the worker's entry")
        assert entry.clock_held and entry.clock.endswith("ahead of Redis's: fetching nothing")
        # Dramatiq's heartbeat of this worker is on Redis's clock, not 120 s ahead.
        seconds, micros = broker.client.time()
        beat = broker.client.zscore(f"{broker.namespace}:__heartbeats__", broker.broker_id)
        assert beat is not None and abs(beat / 1000 - (seconds + micros / 1e6)) < 3
        warnings = [r for r in caplog.records if "fetching nothing" in r.getMessage()]
        assert [r.levelname for r in warnings] == ["WARNING"]  # once, not per tick

        # Set right, it compares again (every minute; sooner here) and fetches.
        watcher.clock.host_time = time.time
        watcher.check_every = 0.5
        wait_for(lambda: len(recorder.of(ARTISTS_QUEUE)) == 2, timeout=30, what="both to run")
        assert recorder.of(ARTISTS_QUEUE) == [1, 2]
        assert broker.maintenance_chance == chance
        assert any("again: fetching" in r.getMessage() for r in caplog.records)
    finally:
        worker.stop()
        set_clock_offset(0.0)
