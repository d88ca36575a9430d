"""Inside a queue on the dashboard, with a real worker and a real Redis: its messages are
listed by kind; one deleted or the queue purged never runs, ends its job row as cancelled
and is on the audit trail; the overview says how old each queue's head is, how long the
queue takes to empty, and charts the last day and week."""

from __future__ import annotations

import re
import time

import dramatiq
import pytest

from actors.middleware.queue_pause import QueuePause
from config.redis_ref import RedisRef
from jobs.queueing import BULK_QUEUE, build_message
from models import AuditEntry, JobRun
from ops import queue_messages as messages
from ops.counters import CounterBuffer
from ops.pause import pause_queue
from tests.web.test_admin_dead_letters import csrf, eventually

DELETE = re.compile(r'action="/admin/queues/bulk/messages/([0-9a-f-]{36})/delete"')


@pytest.fixture
def admin(web, signed_in_web):
    signed_in_web("emma")
    return web


@pytest.fixture
def noted(broker):
    """An untracked actor on bulk that notes each call."""
    calls: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=BULK_QUEUE, actor_name="noted")
    def noted_actor(n: int) -> None:
        calls.append(n)

    return calls


def paused_bulk(broker) -> RedisRef:
    """Pause bulk and wait until the worker has seen it: its messages then stay listed."""
    ref = RedisRef.of(broker)
    pause_queue(ref, BULK_QUEUE)
    [pause] = [m for m in broker.middleware if isinstance(m, QueuePause)]
    eventually(lambda: BULK_QUEUE in pause.paused)
    return ref


def sync_on_bulk(broker, user_id: int) -> JobRun:
    """A person's sync with its job row, its message waiting on bulk."""
    message = build_message("update_user", BULK_QUEUE, [user_id])
    job, _ = JobRun.open(message_id=message.message_id, actor="update_user", args=[user_id],
                         subject=f"user:{user_id}", queue=BULK_QUEUE)  # fmt: skip
    broker.enqueue(message)
    JobRun.update(sent_at=job.enqueued_at).where(JobRun.id == job.id).execute()
    return job


def resume_and_drain(admin, page, broker, worker, noted: list[int], marker: int) -> None:
    """Resume bulk and wait until a message sent after the action has run."""
    admin.post("/admin/queues/bulk/resume", {"csrf_token": csrf(page)})
    broker.get_actor("noted").send(marker)
    eventually(lambda: marker in noted)
    worker.join()


def test_a_deleted_message_never_runs_and_its_sync_ends_cancelled(admin, broker, worker, noted):
    # Given a person's sync and two untracked messages waiting on a paused queue.
    ref = paused_bulk(broker)
    job = sync_on_bulk(broker, 999)
    broker.get_actor("noted").send(1)
    broker.get_actor("noted").send(2)
    page = admin.get("/admin/queues/bulk")
    assert "update_user" in page.text and f'href="/admin/jobs/{job.id}"' in page.text
    assert 'waiting <span class="count">3</span>' in page.text
    sync_id, first_noted, _ = DELETE.findall(page.text)

    # When the operator deletes the sync and one of the others.
    deleted = admin.post(
        f"/admin/queues/bulk/messages/{sync_id}/delete", {"csrf_token": csrf(page)}
    )
    admin.post(f"/admin/queues/bulk/messages/{first_noted}/delete", {"csrf_token": csrf(page)})
    again = admin.post(f"/admin/queues/bulk/messages/{sync_id}/delete",
                       {"csrf_token": csrf(page)}, expect_errors=True)  # fmt: skip
    resume_and_drain(admin, page, broker, worker, noted, marker=3)

    # Then neither ran, the sync's row says cancelled, and both deletions are on record.
    assert deleted.status_int == 303 and "notice=message-deleted" in deleted.headers["Location"]
    assert "1 job runs of it ended as cancelled" in deleted.follow().text
    assert again.status_int == 404
    assert sorted(noted) == [2, 3]
    row = JobRun.get_by_id(job.id)
    assert (row.status, row.started_at) == ("cancelled", None)
    deletions = AuditEntry.select().where(AuditEntry.action == "delete").order_by(AuditEntry.id)
    assert [e.target for e in deletions] == [f"queue:bulk:{sync_id}", f"queue:bulk:{first_noted}"]
    assert messages.count_removable(ref, BULK_QUEUE) == 0


def test_a_purge_asks_with_the_count_then_removes_them_all_and_is_audited(
    admin, broker, worker, noted
):
    ref = paused_bulk(broker)
    jobs = [sync_on_bulk(broker, 990 + n) for n in range(2)]
    for n in range(5):
        broker.get_actor("noted").send(n)
    broker.get_actor("noted").send_with_options(args=(9,), delay=3_000)

    confirm = admin.get("/admin/queues/bulk/purge")
    assert "8 messages (waiting, delayed and retrying) will be deleted" in confirm.text
    assert messages.count_removable(ref, BULK_QUEUE) == 8  # asking changed nothing
    answer = admin.post("/admin/queues/bulk/purge", {"csrf_token": csrf(confirm)})
    time.sleep(3.5)  # past the delayed one's due time: the worker held a copy of it
    resume_and_drain(admin, confirm, broker, worker, noted, marker=100)

    assert "8 messages were deleted from the bulk queue." in answer.follow().text
    assert noted == [100]
    assert {JobRun.get_by_id(j.id).status for j in jobs} == {"cancelled"}
    [entry] = AuditEntry.select().where(AuditEntry.action == "purge")
    assert (entry.target, entry.count, entry.who) == ("queue:bulk", 8, "admin:emma")


def test_delayed_and_retrying_messages_say_when_they_run(admin, broker, worker):
    paused_bulk(broker)
    soon = build_message("update_artist", BULK_QUEUE, ["soon"])
    retry = build_message("update_artist", BULK_QUEUE, ["again"])
    retry.options["retries"] = 2
    broker.enqueue(soon, delay=120_000)
    broker.enqueue(retry, delay=3_600_000)

    delayed = admin.get("/admin/queues/bulk", params={"kind": "delayed"}).text
    retrying = admin.get("/admin/queues/bulk", params={"kind": "retrying"}).text

    assert "&#34;soon&#34;" in delayed and "again" not in delayed and "(in 2 min)" in delayed
    assert "&#34;again&#34;" in retrying and '<td class="num retries">2</td>' in retrying


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/queues/nope", 404),
        ("/admin/queues/bulk?kind=running", 400),
        ("/admin/queues/bulk?skip=-1", 400),
        ("/admin/queues/bulk?skip=9999999999", 400),
        ("/admin/queues/nope/purge", 404),
        ("/admin?range=1y", 400),
    ],
)
def test_bad_addresses_get_a_clear_answer(admin, path, status):
    answer = admin.get(path, expect_errors=True)
    assert answer.status_int == status and "Traceback" not in answer.text


def test_a_bad_delete_changes_nothing(admin, broker):
    ref = RedisRef.of(broker)  # no worker: they stay
    broker.enqueue(build_message("update_artist", BULK_QUEUE, ["a"]))
    token = csrf(admin.get("/admin"))
    for path in ("/admin/queues/bulk/messages/not!an!id/delete",
                 "/admin/queues/bulk/messages/00000000-0000-0000-0000-000000000000/delete",
                 "/admin/queues/nope/messages/x/delete"):  # fmt: skip
        assert admin.post(path, {"csrf_token": token}, expect_errors=True).status_int == 404
    assert admin.post("/admin/queues/bulk/purge", expect_errors=True).status_int == 403  # CSRF
    assert messages.count_removable(ref, BULK_QUEUE) == 1


def test_the_overview_says_each_queues_oldest_message_and_time_to_empty(admin, broker):
    ref = RedisRef.of(broker)  # no worker: they stay
    old = build_message("update_artist", BULK_QUEUE, ["old"])
    broker.enqueue(old.copy(message_timestamp=int((time.time() - 300) * 1000)))  # 5 min ago
    for n in range(59):
        broker.enqueue(build_message("update_artist", BULK_QUEUE, [n]))
    # Bulk's messages were taken at 30 a minute over the last ten minutes.
    for minute in range(1, 11):
        buffer = CounterBuffer(clock=lambda m=minute: time.time() - m * 60)
        for _ in range(30):
            buffer.record("update_artist", "succeeded", 5, BULK_QUEUE)
        buffer.flush(ref)

    page = admin.get("/admin").text
    bulk = page.split('href="/admin/queues/bulk"')[1].split("</tr>")[0]

    assert '<td class="num">60</td>' in bulk
    assert "5 min" in bulk  # the head of the queue waited five minutes
    assert "2 min" in bulk and "at 30.0/min" in bulk  # 60 messages at 30 a minute
    assert "Tracked job runs (rows in the database" in page


def test_the_charts_show_the_last_24_hours_and_the_last_7_days(admin, broker):
    ref = RedisRef.of(broker)
    buffer = CounterBuffer(clock=lambda: time.time() - 3 * 86400)  # three days ago
    for _ in range(7):
        buffer.record("update_artist", "succeeded", 5, "artists")
    buffer.record("update_artist", "failed", 5, "artists")
    buffer.flush(ref)

    hour = admin.get("/admin").text
    day = admin.get("/admin", params={"range": "24h"}).text
    week = admin.get("/admin", params={"range": "7d"}).text

    assert "Jobs per minute, last hour" in hour and "No message ran last hour" in hour
    assert "No message ran last 24 hours" in day
    assert "Jobs per hour, last 7 days" in week
    assert "7 succeeded, 1 failed tries" in week
    assert 'hx-get="/admin?range=7d"' in week  # the poll keeps the range
    durations = week.split("Durations, last 7 days")[1].split("</table>")[0]
    assert "<td>update_artist</td>" in durations and '<td class="num">8</td>' in durations


def test_a_delayed_message_deleted_while_a_worker_holds_it_never_runs(admin, broker, worker, noted):
    # Given a delayed message a worker has fetched and holds until it is due, in 8 s: long
    # enough that the page and the delete are done before it (under a load average of 100
    # they took over 2 s, and the delete found it gone).
    ref = RedisRef.of(broker)
    due = time.monotonic() + 8
    broker.get_actor("noted").send_with_options(args=(1,), delay=8_000)
    held = f"{ref.key('__acks__')}.*.{BULK_QUEUE}.DQ"
    eventually(lambda: any(ref.client.scard(k) for k in ref.client.scan_iter(held)))
    page = admin.get("/admin/queues/bulk", params={"kind": "delayed"})
    [broker_id] = DELETE.findall(page.text)

    # When the operator deletes it, and it comes due.
    admin.post(f"/admin/queues/bulk/messages/{broker_id}/delete", {"csrf_token": csrf(page)})
    time.sleep(max(0.0, due - time.monotonic()) + 0.5)  # past due: the worker's copy is let go
    broker.get_actor("noted").send(2)
    eventually(lambda: 2 in noted)
    worker.join()

    # Then the worker skipped it.
    assert noted == [2]
