"""Queue stats and positions read from the Redis broker's own keys."""

from __future__ import annotations

from dataclasses import replace

from config.redis_ref import RedisRef
from jobs.pipelined import enqueue_pipelined
from jobs.queueing import ARTISTS_QUEUE, BULK_QUEUE, INTERACTIVE_QUEUE, build_message
from models import JobRun
from ops.pause import pause_queue
from ops.queues import QueueStats, job_position, position_in_queue, queue_stats


def message(queue: str, n: int):
    return build_message("ops_test_noop", queue, [n])


def test_queue_stats_count_waiting_delayed_running_and_dead_lettered_messages(broker, db):
    # Given five messages waiting on bulk and two delayed a minute...
    for n in range(5):
        broker.enqueue(message(BULK_QUEUE, n))
    for n in range(2):
        broker.enqueue(message(BULK_QUEUE, n), delay=60_000)
    # ...a consumer that fetched two, acknowledged neither, and failed one for good...
    consumer = broker.consume(BULK_QUEUE, prefetch=2)
    next(consumer)
    dead = next(consumer)
    dead.fail()
    consumer.nack(dead)
    # ...a tracked job running on interactive, and bulk paused.
    JobRun.open(
        message_id="m-running", actor="update_user", args=[1], subject="user:1",
        queue=INTERACTIVE_QUEUE, status="running",
    )  # fmt: skip
    pause_queue(RedisRef.of(broker), BULK_QUEUE)

    stats = {s.queue: s for s in queue_stats(RedisRef.of(broker))}

    assert list(stats) == ["shared", "interactive", "artists", "bulk", "periodic"]
    # The head of bulk was sent moments ago; nothing waits on interactive.
    assert 0 <= stats[BULK_QUEUE].oldest_age < 60
    stats[BULK_QUEUE] = replace(stats[BULK_QUEUE], oldest_age=None)
    assert stats[BULK_QUEUE] == QueueStats(
        queue=BULK_QUEUE, waiting=3, delayed=2, failed=1, running=1, processing=0,
        tracked_running=0, paused=True,
    )  # fmt: skip
    assert stats[INTERACTIVE_QUEUE] == QueueStats(
        queue=INTERACTIVE_QUEUE, waiting=0, delayed=0, failed=0, running=0, processing=0,
        tracked_running=1, paused=False,
    )  # fmt: skip
    assert stats[ARTISTS_QUEUE].waiting == stats[ARTISTS_QUEUE].running == 0


def test_position_in_queue_counts_the_messages_ahead_of_it(broker):
    ref = RedisRef.of(broker)
    sent = [broker.enqueue(message(ARTISTS_QUEUE, n)) for n in range(4)]
    later = broker.enqueue(message(ARTISTS_QUEUE, 99), delay=60_000)

    assert [position_in_queue(ref, ARTISTS_QUEUE, m.message_id) for m in sent] == [0, 1, 2, 3]
    assert position_in_queue(ref, ARTISTS_QUEUE, later.message_id) is None  # delayed
    assert position_in_queue(ref, ARTISTS_QUEUE, "no-such-message") is None
    assert position_in_queue(ref, BULK_QUEUE, sent[0].message_id) is None  # other queue

    # When a worker fetches the first two, the others move up and those two have no place.
    consumer = broker.consume(ARTISTS_QUEUE, prefetch=2)
    next(consumer)
    assert [position_in_queue(ref, ARTISTS_QUEUE, m.message_id) for m in sent] == [
        None, None, 0, 1,
    ]  # fmt: skip


def test_position_in_queue_finds_a_message_deep_in_a_long_queue(broker):
    ref = RedisRef.of(broker)
    messages = [message(BULK_QUEUE, n) for n in range(1_300)]
    enqueue_pipelined(broker, messages)

    assert position_in_queue(ref, BULK_QUEUE, messages[1_234].message_id) == 1_234
    assert position_in_queue(ref, BULK_QUEUE, messages[-1].message_id) == 1_299


def test_a_job_has_a_position_only_while_it_is_queued(broker, db):
    broker.enqueue(message(INTERACTIVE_QUEUE, 0))
    sent = broker.enqueue(message(INTERACTIVE_QUEUE, 1))
    job, _ = JobRun.open(
        message_id=sent.message_id, actor="update_user", args=[1], subject="user:1",
        queue=INTERACTIVE_QUEUE,
    )  # fmt: skip

    assert job_position(RedisRef.of(broker), job) == 1
    job.status = "retrying"
    assert job_position(RedisRef.of(broker), job) is None
