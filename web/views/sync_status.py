"""A person's sync as the pages and the API show it, and a job's place in its queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis

from config.redis_ref import RedisRef
from jobs import queueing
from models import JobRun, User
from models.db import utcnow
from models.job_run import JobStatus, user_subject
from ops.queues import job_position
from web.http import request_context

# The pseudo-status of a person whose library no sync was ever asked for.
NEVER_SYNCED = "never"
# A request still unsent after this long waits for Redis; a younger one may be on its way.
DELAYED_AFTER = dt.timedelta(seconds=2)


def sync_state(user: User) -> dict[str, Any]:
    """The user's latest sync as the JSON API shows it (its keys are a contract).

    ``delayed``: the sync waits for the job queue (Redis is away) and goes on by itself
    when it is back; known at once when this request's own send failed.
    """
    return _sync_state(JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id)))


def _sync_state(job: JobRun | None) -> dict[str, Any]:
    if job is None:
        return {
            "status": NEVER_SYNCED,
            "job_id": None,
            "progress": None,
            "resume_at": None,
            "error": None,
            "delayed": False,
        }
    grace = dt.timedelta(0) if request_context.queue_refused() else DELAYED_AFTER
    return {
        "status": job.status,
        "job_id": job.id,
        "progress": {
            "pages_loaded": job.pages_loaded,
            "pages_total": job.pages_total,
            "message": job.progress_message,
        },
        "resume_at": job.resume_at,
        "error": job.error if job.status == JobStatus.FAILED else None,
        "delayed": job.waits_for_queue(grace),
    }


def sync_view(user: User) -> dict[str, Any]:
    """The user's latest sync as the pages show it: ``sync_state`` and ``active``, which
    decides whether the page polls (the API keeps its keys, so it is not added there).

    ``failing``: Spotify is failing the sync; its ``resume_at`` is then its next try, or,
    once it gave up, when overlap tries again by itself (``tries_again``: the page then
    polls slowly, so that it shows the new run when it starts).
    """
    job = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    state = _sync_state(job)
    active = state["status"] in JobStatus.active()
    tries_again = job is not None and job.status == JobStatus.FAILED and job.resume_at is not None
    failing = tries_again or (
        job is not None and job.status == JobStatus.RETRYING and job.failures_since_progress > 0
    )
    # Seconds to the end at the rate the job has seen so far (jobs/progress.py), for the
    # words "about 20 s"; None when the job has no estimate yet.
    eta_s = None
    if active and job is not None and job.eta_at is not None:
        eta_s = max(0, round((job.eta_at - utcnow()).total_seconds()))
    return {
        **state,
        "active": active,
        "eta_s": eta_s,
        "failing": failing,
        "tries_again": tries_again,
    }


def queue_position(ref: RedisRef | None, job: JobRun) -> int | None:
    """How many messages wait ahead of a queued job (None unless it waits in a queue)."""
    if ref is None:
        return None
    try:
        return job_position(ref, job)
    except redis.RedisError:
        return None  # The job's page still answers; only its place in line is missing.
