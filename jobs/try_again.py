"""Runs that gave up while Spotify kept failing, run again by themselves when their time
comes (the minutely ``recover`` tick calls ``try_again_due``).

A sync gives up after a few failures in a row without a page (actors/retry_policy.py) and
its row keeps, in ``resume_at``, when overlap tries again: the person's page says so. Then
a new run of the same job starts where the failed one stopped: its checkpoint, progress and
request count, and its failures in a row, so that a Spotify still failing costs one try
before the run gives up again, with a longer wait. A person who asked again meanwhile (a
newer run of the same job) makes it moot.
"""

from __future__ import annotations

import datetime as dt
import logging

from jobs.queueing import build_message, send_job
from models import JobRun
from models.db import utcnow

logger = logging.getLogger(__name__)

# Who asked, as the new run's row says.
REQUESTED_BY = "schedule"


def try_again_due(now: dt.datetime | None = None) -> int:
    """Start again every failed run whose time to be tried again came; returns how many
    new runs were sent (a run unsent because Redis is away is sent by recovery later)."""
    now = now or utcnow()
    sent = 0
    for failed in JobRun.due_to_try_again(now):
        if not failed.take_try_again():
            continue  # Another scheduler pass took it.
        latest = JobRun.latest_for(failed.actor, failed.subject) if failed.subject else failed
        if latest is not None and latest.id != failed.id:
            continue  # Someone asked for the job again since; that run is the one.
        message = build_message(failed.actor, failed.queue, failed.args)
        run, created = JobRun.open(
            message_id=message.message_id,
            actor=failed.actor,
            args=list(failed.args),
            subject=failed.subject,
            queue=failed.queue,
            requested_by=REQUESTED_BY,
        )
        if not created:
            continue
        run.carry_on_from(failed)
        if send_job(run, message):
            sent += 1
        logger.info("%r tried again by itself, from where %r stopped", run, failed)
    return sent
