"""The periodic jobs: their cron expressions, when each runs next, and how each last ran.

``SCHEDULES`` is the one home of the cron expressions: ``actors.periodic`` declares its
actors with them, and the dashboard and the CLI read them here, without loading the
actors. periodiq reads the scheduler's local clock, which is UTC (``TZ=UTC`` in the
Procfile), so the times here are UTC too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pendulum
from periodiq import cron

from jobs.queueing import (
    CLEAN_JOB_RUNS,
    PERIODIC_QUEUE,
    RECOVER,
    REFRESH_LISTENERS,
    REFRESH_SLICE,
)
from models import JobRun

SCHEDULES = {
    REFRESH_LISTENERS: "17 3 * * *",
    REFRESH_SLICE: "* * * * *",
    RECOVER: "* * * * *",
    CLEAN_JOB_RUNS: "41 * * * *",
}
# The actors whose runs have a job_runs row (``tracked=True``); ``recover`` reports its
# last run in Redis instead (see actors.scheduler_lease.scheduler_status).
TRACKED = (REFRESH_LISTENERS, CLEAN_JOB_RUNS)
QUEUE = PERIODIC_QUEUE


@dataclass(frozen=True)
class Schedule:
    """One periodic actor: its cron, its next run, and its latest run if it has a row."""

    actor: str
    cron: str
    next_run: dt.datetime
    last_run: JobRun | None


def next_run(spec: str, after: dt.datetime) -> dt.datetime:
    """When ``spec`` next fires after ``after`` (naive UTC in and out)."""
    start = pendulum.instance(after.replace(tzinfo=dt.UTC))
    nxt = cron(spec).next_valid_date(start)
    return dt.datetime(nxt.year, nxt.month, nxt.day, nxt.hour, nxt.minute)


def schedules(now: dt.datetime) -> list[Schedule]:
    """Every periodic actor, in ``SCHEDULES`` order (one query per tracked actor)."""
    out = []
    for actor, spec in SCHEDULES.items():
        last = None
        if actor in TRACKED:
            last = JobRun.select().where(JobRun.actor == actor).order_by(JobRun.id.desc()).first()
        out.append(Schedule(actor, spec, next_run(spec, now), last))
    return out
