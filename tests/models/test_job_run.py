"""Job runs found by message id and by subject."""

from __future__ import annotations

from models import JobRun
from models.job_run import FAILED, SUCCEEDED


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
