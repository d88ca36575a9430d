"""Crash recovery: jobs whose worker died, and requests whose message never left."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from models import JobRun
from models.db import utcnow
from models.job_run import CANCELLED, HEARTBEAT_TIMEOUT, QUEUED, RUNNING
from sync.users import send_job

logger = logging.getLogger(__name__)

# A queued row younger than this may still be on its way to Redis.
UNSENT_GRACE = dt.timedelta(seconds=10)


@dataclass
class Recovery:
    """What one pass of ``recover_jobs`` did."""

    revived: int
    resent: int


def recover_jobs(now: dt.datetime | None = None) -> Recovery:
    """Requeue dead running jobs (from their checkpoint) and send unsent ones."""
    now = now or utcnow()
    revived = 0
    for job in JobRun.stale_running(now - HEARTBEAT_TIMEOUT):
        if job.cancel_requested:
            # Its worker died while it was being cancelled: it is cancelled, not resumed.
            JobRun.update(status=CANCELLED, finished_at=now).where(
                (JobRun.id == job.id) & (JobRun.status == RUNNING)
            ).execute()
            continue
        # Back to queued so that a worker may claim it; the message keeps its id, so if
        # Redis also redelivers the original, the second delivery is skipped.
        updated = (
            JobRun.update(status=QUEUED, error="its worker stopped answering; resumed")
            .where((JobRun.id == job.id) & (JobRun.heartbeat_at == job.heartbeat_at))
            .execute()
        )
        if updated and send_job(job):
            revived += 1
            logger.warning("%r had no heartbeat since %s; sent again", job, job.heartbeat_at)
    resent = sum(send_job(job) for job in JobRun.unsent(now - UNSENT_GRACE))
    return Recovery(revived=revived, resent=resent)
