"""Periodic actors: periodiq sends them on a schedule from the scheduler process.

Each is declared with ``ScheduledActor``, so that of several scheduler processes only the
lease holder sends a tick, once (see actors/scheduled_actor.py and actors/scheduler_lease.py).

They only find what is due and fan out; the work itself runs in other actors. periodiq
reads the local clock, so the scheduler runs with TZ=UTC (see the Procfile), and it never
catches up a missed run: the refresh runs daily so that a missed day or a new month is
caught up the next day.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dramatiq
from periodiq import cron

from actors import runtime
from actors.middleware.job_runs import current_job
from actors.redis_broker import redis_ref
from actors.scheduled_actor import ScheduledActor
from actors.scheduler_lease import last_tick_key
from jobs import queueing
from jobs.progress import for_job
from jobs.recovery import recover_jobs
from jobs.retention import clean_finished_runs, remove_unheld_artists, retention
from jobs.try_again import try_again_due
from models import AuditEntry
from models.db import utcnow
from models.job_run import FAILED
from ops.schedules import SCHEDULES
from sync.artists import refresh_outdated_artists

logger = logging.getLogger(__name__)


def periodic_actor(name: str, **options: Any) -> Any:
    """The decorator of the periodic actor ``name``: sent on the periodic queue by the
    scheduler lease's holder at its cron of ``ops.schedules``, never retried (the next tick
    is its retry)."""
    return dramatiq.actor(
        actor_class=ScheduledActor,
        actor_name=name,
        queue_name=queueing.PERIODIC_QUEUE,
        periodic=cron(SCHEDULES[name]),
        max_retries=0,
        **options,
    )


@periodic_actor(queueing.REFRESH_LISTENERS, tracked=True, time_limit=30 * 60 * 1000)
def refresh_listeners() -> None:
    """Send ``update_artist`` on the bulk queue for every artist without this month's count."""
    result = refresh_outdated_artists(progress=for_job(current_job()))
    logger.info("monthly refresh: %d outdated artists sent", result.sent)


@periodic_actor(queueing.RECOVER)
def recover() -> None:
    """Send again the jobs whose worker died or whose message never reached Redis, and
    start again the syncs that gave up on a failing Spotify once their time came."""
    recover_jobs()
    try_again_due()
    # When recovery last ran, for health and the dashboard (see scheduler_status).
    ref = redis_ref(dramatiq.get_broker())
    ref.client.set(last_tick_key(ref), str(time.time()))


@periodic_actor(queueing.CLEAN_JOB_RUNS, tracked=True, time_limit=30 * 60 * 1000)
def clean_job_runs() -> None:
    """Remove the finished job runs older than their retention, in batches, and the
    artists nobody holds any more."""
    kept = retention(runtime.context().settings)
    cleanup = clean_finished_runs(kept)
    logger.info("job runs: %d removed in %d batches", cleanup.removed, cleanup.batches)
    logger.info("artists nobody holds: %d removed", remove_unheld_artists())
    # The audit trail is kept as long as the failed runs it may explain.
    AuditEntry.remove_older_than(utcnow() - kept[FAILED])
