"""Job runs found by message id and by subject, and each attempt's claim."""

from __future__ import annotations

import datetime as dt

import pytest

from models import JobRun
from models.db import utcnow
from models.job_run import FAILED, RETRYING, RUNNING, SUCCEEDED, Superseded


def _run(message_id: str, subject: str = "user:1") -> JobRun:
    run, created = JobRun.open(
        message_id=message_id, actor="update_user", args=[1], subject=subject, queue="q"
    )
    assert created
    return run


def test_ids_by_message_id_names_the_tracked_runs_and_leaves_out_the_others(db):
    first, second = _run("m1", "user:1"), _run("m2", "user:2")

    found = JobRun.ids_by_message_id(["m1", "m2", "untracked"])

    assert found == {"m1": first.id, "m2": second.id}
    assert JobRun.ids_by_message_id([]) == {}


def test_latest_for_is_the_newest_run_of_the_subject_whatever_its_status(db):
    older = _run("m1")
    older.finish(FAILED)
    newer = _run("m2")
    newer.finish(SUCCEEDED)
    _run("m3", "user:2")

    assert JobRun.latest_for("update_user", "user:1").id == newer.id
    assert JobRun.latest_for("update_user", "user:9") is None


def test_an_attempt_taken_over_by_another_worker_records_nothing_and_stops(db):
    # Given a run claimed by worker 1, then, its heartbeat stale (worker 1 cut off), by
    # worker 2, each through its own copy of the row...
    run = _run("m1")
    first = JobRun.get_by_id(run.id)
    assert first.claim(stale_before=utcnow())
    second = JobRun.get_by_id(run.id)
    assert second.claim(stale_before=utcnow() + dt.timedelta(seconds=1))
    assert (first.attempts, second.attempts) == (1, 2)

    # When worker 1 comes back: its checkpoint stops it, and nothing it ends with is kept...
    with pytest.raises(Superseded):
        first.save_checkpoint({"page": 9})
    assert not first.set_waiting(RETRYING, error="cut off", attempt=first.attempts)
    assert not first.finish(SUCCEEDED, attempt=first.attempts)
    row = JobRun.get_by_id(run.id)
    assert (row.status, row.checkpoint, row.error) == (RUNNING, second.checkpoint, None)

    # ...while worker 2's attempt records its end; a late retry of worker 1 cannot claim it.
    second.save_checkpoint({"page": 10})
    assert second.finish(SUCCEEDED, attempt=second.attempts)
    assert JobRun.get_by_id(run.id).status == SUCCEEDED
    assert not first.claim(stale_before=utcnow() + dt.timedelta(seconds=1))
