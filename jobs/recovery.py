"""Crash recovery: jobs whose worker died, and requests whose message never left."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from jobs.queueing import CLI_QUEUE, send_job
from models import JobRun
from models.db import utcnow
from models.job_run import CANCELLED, FAILED, QUEUED, RUNNING

logger = logging.getLogger(__name__)

# A queued row younger than this may still be on its way to Redis (the worker's pass when
# Redis comes back takes them all: a duplicate message is refused by the job's claim).
UNSENT_GRACE = dt.timedelta(seconds=10)
# A running job whose heartbeat stopped this long ago is sent again. Longer than the claim's
# 4 s (models/job_run.py: HEARTBEAT_TIMEOUT), because this sends a second delivery on the
# row's word alone: a live worker cannot write its heartbeat while the database restarts,
# and a recovery that ran just after would start its job twice. A dead worker's job does
# not wait for this: Redis gives its message back within 6 s (actors/broker.py). This is
# for the message Redis lost, and the recovery runs once a minute anyway.
RECOVER_AFTER = dt.timedelta(seconds=30)


@dataclass
class Recovery:
    """What one pass of ``recover_jobs`` did."""

    revived: int
    resent: int


def recover_jobs(now: dt.datetime | None = None) -> Recovery:
    """Requeue dead running jobs (from their checkpoint) and send unsent ones."""
    now = now or utcnow()
    revived = 0
    for job in JobRun.stale_running(now - RECOVER_AFTER):
        if job.cancel_requested:
            # Its worker died while it was being cancelled: it is cancelled, not resumed.
            JobRun.update(status=CANCELLED, finished_at=now).where(
                (JobRun.id == job.id) & (JobRun.status == RUNNING)
            ).execute()
            continue
        if job.queue == CLI_QUEUE:
            # An `overlap sync-user` run whose command died: no worker reads its queue, so
            # it is ended; its pages are kept and the next sync goes on from them.
            JobRun.update(
                status=FAILED, finished_at=now, error="the overlap command running it stopped"
            ).where((JobRun.id == job.id) & (JobRun.status == RUNNING)).execute()
            continue
        # Back to queued so that a worker may claim it; the message keeps its id, so if
        # Redis also redelivers the original, the second delivery is skipped. Unsent until
        # the send succeeds, so that a send Redis refuses is tried again by a later pass.
        updated = (
            JobRun.update(
                status=QUEUED, sent_at=None, error="its worker stopped answering; resumed"
            )
            .where((JobRun.id == job.id) & (JobRun.heartbeat_at == job.heartbeat_at))
            .execute()
        )
        if updated and send_job(job):
            revived += 1
            logger.warning("%r had no heartbeat since %s; sent again", job, job.heartbeat_at)
    return Recovery(revived=revived, resent=send_unsent(now - UNSENT_GRACE))


def send_waiting(down_since: dt.datetime) -> int:
    """Send again every waiting job not sent since Redis went down; returns how many went.

    For after a Redis outage: Redis may have come back without its data, and a worker
    drops the messages it had fetched but not yet run (Dramatiq starts its consumer
    afresh on a connection error), so any waiting job's message may be gone. A second
    message for a job whose first survived is refused by the job's claim. A job sent
    since ``down_since`` was sent after Redis came back (nothing is sent while it is
    down), so its message is there.
    """
    sent, after = 0, 0
    while batch := JobRun.not_sent_since(down_since, after_id=after):
        for job in batch:
            if not send_job(job):
                return sent  # Redis is away again; the next pass sends them all.
            sent += 1
        after = batch[-1].id
    return sent


def send_unsent(older_than: dt.datetime) -> int:
    """Send the waiting jobs whose message never reached Redis, asked for before
    ``older_than``; returns how many went (none while Redis is still away)."""
    sent = 0
    for job in JobRun.unsent(older_than):
        if not send_job(job):
            break  # Redis is away again; the rest wait for the next pass.
        sent += 1
    return sent
