"""The minutely recovery: a running job whose heartbeat stopped is queued and sent again,
and a live one is left alone."""

from __future__ import annotations

import datetime as dt

from actors.testing import assert_enqueued_with, enqueued
from models import JobRun
from models.db import utcnow
from sync.maintenance import recover_jobs


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


def test_a_live_job_is_left_alone(db, broker):
    live = running_job("live-1", "user:8", dt.timedelta(seconds=2))

    assert recover_jobs().revived == 0
    assert JobRun.get_by_id(live.id).status == "running"
    assert enqueued(broker, "interactive") == []


def test_a_live_job_refuses_a_duplicate_delivery(db):
    live = running_job("live-2", "user:9", dt.timedelta(seconds=2))
    assert not live.claim(stale_before=utcnow() - dt.timedelta(seconds=12))
