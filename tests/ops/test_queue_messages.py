"""The messages inside a queue: listed by kind a page at a time, deleted, purged, and the
job rows of those taken off cancelled."""

from __future__ import annotations

import time

from config.redis_ref import RedisRef
from jobs.queueing import BULK_QUEUE, build_message
from models import JobRun
from ops import queue_messages as messages


def send(broker, n: int, *, delay: int | None = None, retries: int = 0, actor="update_artist"):
    message = build_message(actor, BULK_QUEUE, [f"artist-{n}"])
    if retries:
        message.options["retries"] = retries
    return broker.enqueue(message, delay=delay)


def test_waiting_delayed_and_retrying_messages_are_listed_apart_each_in_its_order(broker, db):
    ref = RedisRef.of(broker)
    for n in range(3):
        send(broker, n)
    send(broker, 10, delay=90_000)
    send(broker, 11, delay=30_000)
    send(broker, 20, delay=60_000, retries=2)

    waiting, counts = messages.read_queue(ref, BULK_QUEUE, "waiting")
    delayed, _ = messages.read_queue(ref, BULK_QUEUE, "delayed")
    retrying, _ = messages.read_queue(ref, BULK_QUEUE, "retrying")

    assert counts == {"waiting": 3, "delayed": 2, "retrying": 1}
    assert [m.args for m in waiting.messages] == [["artist-0"], ["artist-1"], ["artist-2"]]
    first = waiting.messages[0]
    assert (first.actor, first.arguments, first.retries, first.runs_at) == (
        "update_artist", '"artist-0"', 0, None
    )  # fmt: skip
    assert abs((first.sent_at - messages.from_ms(time.time() * 1000)).total_seconds()) < 60
    # Soonest due first, with when it will run.
    assert [m.args for m in delayed.messages] == [["artist-11"], ["artist-10"]]
    assert delayed.messages[0].runs_at < delayed.messages[1].runs_at
    assert [(m.args, m.retries) for m in retrying.messages] == [(["artist-20"], 2)]


def test_a_long_queue_is_read_a_page_at_a_time(broker, db):
    ref = RedisRef.of(broker)
    for n in range(120):
        send(broker, n)

    first, _ = messages.read_queue(ref, BULK_QUEUE, "waiting")
    last, _ = messages.read_queue(ref, BULK_QUEUE, "waiting", skip=first.next_skip + 50)

    assert len(first.messages) == 50 and first.total == 120 and first.next_skip == 50
    assert [m.args[0] for m in last.messages] == [f"artist-{n}" for n in range(100, 120)]
    assert last.next_skip is None


def test_deleting_a_message_takes_it_off_and_cancels_its_job_row(broker, db):
    ref = RedisRef.of(broker)
    sync = build_message("update_user", BULK_QUEUE, [7])
    job, _ = JobRun.open(message_id=sync.message_id, actor="update_user", args=[7],
                         subject="user:7", queue=BULK_QUEUE)  # fmt: skip
    broker_id = broker.enqueue(sync).options["redis_message_id"]
    other = send(broker, 1)
    later = send(broker, 2, delay=60_000).options["redis_message_id"]

    removed = messages.delete_message(ref, BULK_QUEUE, broker_id)
    removed_later = messages.delete_message(ref, BULK_QUEUE, later)

    assert removed == messages.Removed(messages=1, cancelled_jobs=1)
    assert removed_later == messages.Removed(messages=1, cancelled_jobs=0)
    assert JobRun.get_by_id(job.id).status == "cancelled"
    [left] = messages.read_queue(ref, BULK_QUEUE, "waiting")[0].messages
    assert left.message_id == other.message_id
    assert not ref.client.hexists(ref.key(f"{BULK_QUEUE}.msgs"), broker_id)
    assert messages.delete_message(ref, BULK_QUEUE, broker_id) is None  # gone already
    # A new sync of that person can be sent: the cancelled row no longer holds the place.
    assert JobRun.open(message_id="next", actor="update_user", args=[7], subject="user:7",
                       queue=BULK_QUEUE)[1]  # fmt: skip


def test_a_message_a_worker_fetched_is_neither_deleted_nor_purged(broker, db):
    ref = RedisRef.of(broker)
    taken = send(broker, 1).options["redis_message_id"]
    send(broker, 2)
    consumer = broker.consume(BULK_QUEUE, prefetch=1)
    next(consumer)  # a worker holds artist-1 now

    assert messages.delete_message(ref, BULK_QUEUE, taken) is None
    assert messages.purge_queue(ref, BULK_QUEUE).messages == 1
    # Still in the hash, so the worker's acknowledgement (or dead letter) finds it.
    assert ref.client.hexists(ref.key(f"{BULK_QUEUE}.msgs"), taken)
    consumer.close()


def test_a_purge_takes_every_waiting_and_delayed_message_and_cancels_their_rows(broker, db):
    ref = RedisRef.of(broker)
    jobs = []
    for n in range(3):
        sync = build_message("update_user", BULK_QUEUE, [n])
        jobs.append(JobRun.open(message_id=sync.message_id, actor="update_user", args=[n],
                                subject=f"user:{n}", queue=BULK_QUEUE)[0])  # fmt: skip
        broker.enqueue(sync, delay=60_000 if n == 2 else None)
    for n in range(2_500):  # more than one batch
        send(broker, n)
    assert messages.count_removable(ref, BULK_QUEUE) == 2_503

    removed = messages.purge_queue(ref, BULK_QUEUE)

    assert removed == messages.Removed(messages=2_503, cancelled_jobs=3)
    assert {JobRun.get_by_id(j.id).status for j in jobs} == {"cancelled"}
    assert messages.count_removable(ref, BULK_QUEUE) == 0
    assert ref.client.hlen(ref.key(f"{BULK_QUEUE}.msgs")) == 0
