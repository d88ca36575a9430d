"""The job runs' queries that the dashboard asks: by id, counts by status, the newest
failures."""

from __future__ import annotations

import itertools

from models import JobRun
from models.job_run import ACTIVE, CANCELLED, FAILED, QUEUED, RETRYING, RUNNING, SUCCEEDED

_ids = itertools.count(1)


def run(status: str, actor: str = "update_user") -> JobRun:
    return JobRun.create(
        message_id=f"m-{next(_ids)}",
        actor=actor,
        args=[1],
        subject=None,
        queue="interactive",
        status=status,
    )


def test_a_run_is_found_by_its_id_and_a_missing_id_finds_none(db):
    job = run(QUEUED)

    assert JobRun.by_id(job.id) == job
    assert JobRun.by_id(job.id + 1) is None


def test_the_active_count_is_the_queued_running_and_retrying_runs(db):
    for status in (QUEUED, RUNNING, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED):
        run(status)

    assert JobRun.active_count() == 4


def test_counts_by_status_name_every_status_asked_for_even_with_no_run(db):
    for status in (RUNNING, RUNNING, FAILED):
        run(status)

    assert JobRun.count_by_status(ACTIVE) == {QUEUED: 0, RUNNING: 2, RETRYING: 0}


def test_the_newest_failed_count_looks_at_the_newest_failures_of_the_actors_asked(db):
    run(FAILED)  # the oldest: past the limit of three
    run(FAILED, actor="refresh_listeners")
    run(FAILED, actor="update_artist")  # not an actor asked for
    run(SUCCEEDED)
    run(FAILED)

    assert JobRun.newest_failed_count(["update_user", "refresh_listeners"], limit=3) == 2
    assert JobRun.newest_failed_count(["update_user", "refresh_listeners"], limit=10) == 3
