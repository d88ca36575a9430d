"""Periodic actors: periodiq sends them on a schedule from the scheduler process.

Each is declared with ``ScheduledActor``, so that of several scheduler processes only the
lease holder sends a tick, once (see actors/scheduled_actor.py and actors/scheduler_lease.py).

They only find what is due and fan out; the work itself runs in other actors. periodiq
reads the local clock, so the scheduler runs with TZ=UTC (see the Procfile) and sends no
tick while that clock is more than 5 s from Redis's (actors/scheduled_actor.py); it never
catches up a missed run: the refresh's pass begins daily (a new month begins one by itself)
and its slice tops the bulk queue up every minute, so a missed tick costs a minute.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from periodiq import cron

from actors import runtime
from actors.redis_broker import redis_ref
from actors.scheduled_actor import ScheduledActor
from actors.scheduler_lease import last_tick_key
from jobs import queueing
from jobs.recovery import recover_jobs
from jobs.retention import clean_finished_runs, remove_unheld_artists, retention
from jobs.try_again import try_again_due
from models import AuditEntry
from models.db import shared_time, utcnow
from models.job_run import FAILED
from ops.schedules import SCHEDULES
from sync.refresh_slices import RefreshPass

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


@periodic_actor(queueing.REFRESH_LISTENERS, tracked=True, time_limit=5 * 60 * 1000)
def refresh_listeners() -> None:
    """Begin a new pass of the refresh if the last one is done, and send its first slice
    (``refresh_slice`` sends the others)."""
    refresh = RefreshPass(redis_ref(dramatiq.get_broker()))
    started = refresh.start()
    first = refresh.send_slice(runtime.context().settings.spotify_pages_rate)
    logger.info("monthly refresh: %s; %d sent", "new pass" if started else "pass going", first.sent)


@periodic_actor(queueing.REFRESH_SLICE, time_limit=5 * 60 * 1000)
def refresh_slice() -> None:
    """Top the bulk queue up to two minutes of the page rate from the artists still
    outdated (sync/refresh_slices.py), so Redis never holds the whole refresh."""
    refresh = RefreshPass(redis_ref(dramatiq.get_broker()))
    done = refresh.send_slice(runtime.context().settings.spotify_pages_rate)
    if done.sent:
        logger.info(
            "refresh slice: %d sent after %d queued, cursor %d",
            done.sent,
            done.queued,
            done.after_id,
        )


@periodic_actor(queueing.RECOVER)
def recover() -> None:
    """Send again the jobs whose worker died or whose message never reached Redis, and
    start again the syncs that gave up on a failing Spotify once their time came."""
    recover_jobs()
    try_again_due()
    # When recovery last ran, for health and the dashboard (see scheduler_status), on
    # Redis's clock: the web compares it with its own, on another host.
    ref = redis_ref(dramatiq.get_broker())
    ref.client.set(last_tick_key(ref), str(shared_time()))


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
