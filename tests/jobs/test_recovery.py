"""The minutely recovery: a running job whose heartbeat stopped is queued and sent again,
and a live one is left alone."""

from __future__ import annotations

import datetime as dt

from actors.testing import assert_enqueued_with, enqueued
from jobs.recovery import RECOVER_AFTER, recover_jobs
from models import JobRun
from models.db import utcnow
from models.job_run import HEARTBEAT_TIMEOUT


def running_job(message_id: str, subject: str, heartbeat_age: dt.timedelta) -> JobRun:
    job, _ = JobRun.open(
        message_id=message_id,
        actor="update_user",
        args=[7],
        subject=subject,
        queue="interactive",
        status="running",
    )
    JobRun.update(heartbeat_at=utcnow() - heartbeat_age, sent_at=utcnow()).where(
        JobRun.id == job.id
    ).execute()
    return JobRun.get_by_id(job.id)


def test_a_job_whose_heartbeat_stopped_is_queued_and_sent_again(db, broker):
    dead = running_job("dead-1", "user:7", dt.timedelta(minutes=5))

    recovery = recover_jobs()

    assert recovery.revived == 1
    assert JobRun.get_by_id(dead.id).status == "queued"
    [message] = assert_enqueued_with(broker, "interactive", "update_user", [7])
    assert message.message_id == "dead-1"  # the same job, claimable by the next worker
    revived = JobRun.get_by_id(dead.id)
    assert revived.claim(stale_before=utcnow() - dt.timedelta(seconds=12))


def test_a_foreground_run_whose_command_died_is_ended_not_sent_nowhere(db, broker):
    dead = running_job("cli-dead", "user:70", dt.timedelta(minutes=5))
    JobRun.update(queue="cli").where(JobRun.id == dead.id).execute()

    assert recover_jobs().revived == 0

    ended = JobRun.get_by_id(dead.id)
    assert (ended.status, ended.error) == ("failed", "the overlap command running it stopped")
    assert enqueued(broker, "cli") == []


def test_a_live_job_is_left_alone(db, broker):
    live = running_job("live-1", "user:8", dt.timedelta(seconds=2))

    assert recover_jobs().revived == 0
    assert JobRun.get_by_id(live.id).status == "running"
    assert enqueued(broker, "interactive") == []


def test_a_job_silent_past_the_claim_window_is_left_to_redis_for_a_while(db, broker):
    # Given a row whose heartbeat stopped longer ago than a claim waits, but not as long as
    # the recovery waits (a worker that could not write it while the database restarted).
    quiet = running_job("quiet-1", "user:10", HEARTBEAT_TIMEOUT + dt.timedelta(seconds=5))
    assert HEARTBEAT_TIMEOUT + dt.timedelta(seconds=5) < RECOVER_AFTER

    # The recovery sends nothing: a second delivery now could run a live job twice...
    assert recover_jobs().revived == 0
    assert JobRun.get_by_id(quiet.id).status == "running"
    assert enqueued(broker, "interactive") == []
    # ...though a delivery Redis gave back (its worker silent there too) may claim it.
    assert quiet.claim(stale_before=utcnow() - HEARTBEAT_TIMEOUT)


def test_a_live_job_refuses_a_duplicate_delivery(db):
    live = running_job("live-2", "user:9", dt.timedelta(seconds=2))
    assert not live.claim(stale_before=utcnow() - dt.timedelta(seconds=12))


def test_a_retry_redis_refused_is_sent_again_with_what_is_left_of_its_wait(db, broker):
    # Given a job whose retry, due in 30 s, did not reach Redis (its worker said so).
    job, _ = JobRun.open(
        message_id="retry-1", actor="update_user", args=[9], subject="user:9", queue="interactive"
    )
    a_minute_ago = utcnow() - dt.timedelta(minutes=1)
    JobRun.update(enqueued_at=a_minute_ago, sent_at=a_minute_ago).where(
        JobRun.id == job.id
    ).execute()
    job.set_waiting(
        "retrying", error="ConnectionError", resume_at=utcnow() + dt.timedelta(seconds=30),
        unsent=True,
    )  # fmt: skip
    assert JobRun.get_by_id(job.id).sent_at is None

    # When the recovery runs, then it is sent again, delayed by the rest of its wait.
    sent_ms = utcnow().timestamp() * 1000
    assert recover_jobs().resent == 1
    assert enqueued(broker, "interactive") == []
    [message] = enqueued(broker, "interactive", delayed=True)
    assert message.message_id == "retry-1"
    assert 25_000 < message.options["eta"] - sent_ms <= 31_000
    assert JobRun.get_by_id(job.id).sent_at is not None


def test_after_an_outage_every_waiting_job_not_sent_since_it_began_is_sent_again(db, broker):
    from jobs.recovery import send_waiting

    # Given jobs sent before Redis went down, one sent after it came back, one finished.
    down_since = utcnow() - dt.timedelta(seconds=30)
    ids = {}
    for name, status, sent_at in (
        ("queued-before", "queued", down_since - dt.timedelta(minutes=5)),
        ("retrying-before", "retrying", down_since - dt.timedelta(minutes=1)),
        ("unsent", "queued", None),
        ("queued-after", "queued", utcnow()),
        ("finished", "succeeded", down_since - dt.timedelta(minutes=5)),
    ):
        job, _ = JobRun.open(
            message_id=name, actor="update_user", args=[len(ids)], subject=f"user:{len(ids)}",
            queue="interactive", status=status,
        )  # fmt: skip
        JobRun.update(sent_at=sent_at).where(JobRun.id == job.id).execute()
        ids[name] = job.id

    # When the worker's pass runs, then the three that may have lost their message go again.
    assert send_waiting(down_since) == 3
    sent = sorted(m.message_id for m in enqueued(broker, "interactive"))
    assert sent == ["queued-before", "retrying-before", "unsent"]
    assert all(JobRun.get_by_id(ids[n]).sent_at > down_since for n in sent)
