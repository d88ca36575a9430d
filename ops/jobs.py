"""Reporting queries on ``job_runs`` for the operations views (counts, never rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from peewee import fn

from models import JobRun
from models.job_run import RUNNING


def job_runs_by_actor_and_status() -> dict[tuple[str, str], int]:
    """How many job rows each actor has in each status (one GROUP BY on its index)."""
    query = JobRun.select(JobRun.actor, JobRun.status, fn.COUNT(JobRun.id)).group_by(
        JobRun.actor, JobRun.status
    )
    # peewee's stubs type .tuples() as the model query; its rows are (actor, status, count).
    rows = cast("Iterable[tuple[str, str, int]]", query.tuples())
    return {(actor, status): count for actor, status, count in rows}


def running_jobs_by_queue() -> dict[str, int]:
    """How many tracked jobs say they are running, per queue."""
    query = (
        JobRun.select(JobRun.queue, fn.COUNT(JobRun.id))
        .where(JobRun.status == RUNNING)
        .group_by(JobRun.queue)
    )
    # As above: the rows are (queue, count).
    return dict(cast("Iterable[tuple[str, int]]", query.tuples()))
