"""A sync that gave up while Spotify kept failing is run again by itself when its time comes:
a new run that goes on from where the failed one stopped, sent once, and only when nobody
asked for the sync again meanwhile. On the test database and Redis."""

from __future__ import annotations

import datetime as dt

from actors.testing import assert_enqueued_with, enqueued
from jobs import queueing
from jobs.try_again import try_again_due
from models import JobRun
from models.db import utcnow
from models.job_run import user_subject

CHECKPOINT = {"started_at": "2024-06-01T10:00:00", "pages_loaded": 80, "followed": {"after": "x"}}


def gave_up(user_id: int, resume_at: dt.datetime) -> JobRun:
    """A sync of ``user_id`` that failed at page 80 of 170 after five failures in a row."""
    return JobRun.create(
        message_id=f"m-{user_id}-{resume_at.timestamp()}",
        actor=queueing.UPDATE_USER,
        args=[user_id],
        subject=user_subject(user_id),
        queue=queueing.INTERACTIVE_QUEUE,
        status="failed",
        error="ServerError: Spotify failed with 503 for the followed artists",
        checkpoint=CHECKPOINT,
        totals={"followed": 5000},
        pages_loaded=80,
        pages_total=170,
        progress_current=80,
        progress_total=170,
        api_requests=95,
        failures_since_progress=5,
        failing_since=resume_at - dt.timedelta(minutes=3),
        pages_at_failure=80,
        finished_at=resume_at - dt.timedelta(minutes=2),
        resume_at=resume_at,
    )


def test_a_sync_whose_time_came_goes_on_from_where_it_stopped_as_a_new_run_sent_once(db, broker):
    failed = gave_up(7, utcnow() - dt.timedelta(seconds=1))

    assert try_again_due() == 1

    run = JobRun.latest_for(queueing.UPDATE_USER, user_subject(7))
    assert run.id != failed.id
    assert (run.status, run.requested_by, run.attempts, run.args) == ("queued", "schedule", 0, [7])
    kept = (
        "checkpoint", "totals", "pages_loaded", "pages_total", "progress_current",
        "api_requests", "failures_since_progress", "failing_since", "pages_at_failure",
    )  # fmt: skip
    assert {k: getattr(run, k) for k in kept} == {k: getattr(failed, k) for k in kept}
    [message] = assert_enqueued_with(broker, queueing.INTERACTIVE_QUEUE, queueing.UPDATE_USER, [7])
    assert message.message_id == run.message_id and run.sent_at is not None
    # The failed run stays as it was, for the record, no longer due.
    record = JobRun.get_by_id(failed.id)
    assert (record.status, record.resume_at) == ("failed", None)
    assert try_again_due() == 0
    assert len(enqueued(broker, queueing.INTERACTIVE_QUEUE)) == 1


def test_a_sync_is_not_tried_again_before_its_time_nor_once_someone_asked_again(db, broker):
    later = gave_up(8, utcnow() + dt.timedelta(minutes=1))
    superseded = gave_up(9, utcnow() - dt.timedelta(seconds=1))
    # Person 9 pressed the refresh button meanwhile: that run is the one.
    asked = JobRun.create(
        message_id="asked-again",
        actor=queueing.UPDATE_USER,
        args=[9],
        subject=user_subject(9),
        queue=queueing.INTERACTIVE_QUEUE,
        status="succeeded",
    )

    assert try_again_due() == 0

    assert enqueued(broker, queueing.INTERACTIVE_QUEUE) == []
    assert JobRun.latest_for(queueing.UPDATE_USER, user_subject(9)).id == asked.id
    assert JobRun.get_by_id(later.id).resume_at == later.resume_at
    assert JobRun.get_by_id(superseded.id).resume_at is None  # looked at once, then dropped
    # Its time comes: then it goes.
    assert try_again_due(now=later.resume_at) == 1
