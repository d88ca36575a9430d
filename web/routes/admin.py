"""The operations dashboard at ``/admin``: queues, workers, Spotify's limits, the scheduler,
jobs per minute, and the job runs, with the actions an operator needs.

Only admins (``ADMIN_SPOTIFY_IDS``; the demo user Emma in demo mode) get in: everyone
else gets 403 on every page and action, and a signed-out visitor is sent to sign in
first. Pages are server-rendered; the overview and an active job's page poll with htmx.
Every action is a POST with the CSRF token, answered with a redirect that names what was
done. What Redis holds (queues, workers, counters) is shown as unavailable when Redis does
not answer; the job runs come from the database and still show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import bottle
import redis

from jobs.actions import RETRYABLE, JobActionError, cancel_active, retry_all_failed, retry_job
from jobs.retention import clean_finished_runs, retention_of_days
from models import JobRun
from models.db import utcnow
from models.job_run import ACTIVE, FAILED, STATUSES
from ops.counters import jobs_per_minute
from ops.pause import pause_queue, resume_queue
from ops.queues import job_position, queue_stats
from ops.workers import live_workers
from spotify.gate import SpotifyGate
from web import context
from web.auth_guard import admin_only
from web.context import page_error, render, see_other
from web.views import broker_ref

PAGE_SIZE = 50
SINCE = {"15m": 15, "1h": 60, "24h": 24 * 60, "7d": 7 * 24 * 60, "30d": 30 * 24 * 60}
# What an action's redirect may say: fixed sentences, filled with numbers only.
NOTICES = {
    "retried": "A new run of the job was sent.",
    "already-active": "That job already has a run queued or running; it is shown here.",
    "cancelled": "The job was cancelled.",
    "cancelling": "The job was asked to stop; it stops at its next checkpoint.",
    "cancel-all": "{n} jobs were asked to stop.",
    "retry-failed": "{n} failed jobs were sent again.",
    "cleaned": "{n} finished job runs were removed.",
    "paused": "The queue is paused: workers leave its messages waiting.",
    "resumed": "The queue is running again.",
}


def _notice() -> str | None:
    text = NOTICES.get(bottle.request.query.get("notice") or "")
    n = context.whole_number(bottle.request.query.get("n"), 9) or 0
    return text.format(n=n) if text else None


def _back(path: str, notice: str, n: int | None = None) -> bottle.HTTPResponse:
    query = {"notice": notice, **({"n": str(n)} if n is not None else {})}
    return see_other(f"{path}?{urlencode(query)}")


def overview_values() -> dict[str, Any]:
    """Everything the overview shows; Redis-backed parts are None when Redis is away."""
    settings = context.settings()
    values: dict[str, Any] = {
        "redis_error": None,
        "queues": None,
        "workers": None,
        "spotify": None,
        "scheduler": None,
        "minutes": None,
        "limits": {
            "api": int(settings.spotify_api_rate * 60),
            "open": int(settings.spotify_pages_rate * 60),
        },
        "active": {s: JobRun.select().where(JobRun.status == s).count() for s in ACTIVE},
        "failures": JobRun.search(status=FAILED, limit=5),
        "now": utcnow(),
    }
    ref = broker_ref()
    if ref is None:
        values["redis_error"] = "REDIS_URL is not set"
        return values
    try:
        from actors.scheduler_lease import scheduler_status

        workers = live_workers(ref)
        values.update(
            queues=queue_stats(ref, workers=workers),
            workers=workers,
            spotify=SpotifyGate(ref, settings).stats(),
            scheduler=scheduler_status(ref),
            minutes=jobs_per_minute(ref, minutes=60),
        )
    except (redis.RedisError, OSError) as error:
        values["redis_error"] = f"Redis is not answering ({type(error).__name__})"
    return values


def _filters() -> tuple[dict[str, str], dict[str, Any]] | str:
    """The job list's filters from the query: (as given, as search arguments) or a problem."""
    query = bottle.request.query
    given = {k: (query.get(k) or "").strip() for k in ("status", "actor", "subject", "since")}
    given = {k: v for k, v in given.items() if v}
    args: dict[str, Any] = {}
    if "status" in given:
        if given["status"] not in STATUSES:
            return f"Status must be one of: {', '.join(STATUSES)}."
        args["status"] = given["status"]
    for name, longest in (("actor", 64), ("subject", 128)):
        if name in given:
            if len(given[name]) > longest:
                return f"That {name} is too long ({longest} characters at most)."
            if not given[name].isprintable():  # PostgreSQL refuses a NUL in a query
                return f"That {name} holds characters no job's {name} has."
            args[name] = given[name]
    if "since" in given:
        if given["since"] not in SINCE:
            return f"Since must be one of: {', '.join(SINCE)}."
        args["since"] = utcnow() - dt.timedelta(minutes=SINCE[given["since"]])
    before = query.get("before") or ""
    if before:
        args["before_id"] = context.whole_number(before, 11)
        if args["before_id"] is None:
            return "That page of the job list does not exist."
    return given, args


def _job_or_none(job_id: str) -> JobRun | None:
    number = context.whole_number(job_id, 11)
    return None if number is None else JobRun.get_or_none(JobRun.id == number)


def mount(app: bottle.Bottle) -> None:
    """Add the dashboard's pages and actions to ``app``."""

    @app.get("/admin")
    @admin_only
    def overview() -> str:
        template = "admin/_overview.html" if context.is_htmx() else "admin/overview.html"
        return render(template, notice=_notice(), **overview_values())

    @app.get("/admin/jobs")
    @admin_only
    def jobs() -> str:
        filters = _filters()
        if isinstance(filters, str):
            return page_error(400, filters, "Cannot list those jobs")
        given, args = filters
        runs = JobRun.search(**args, limit=PAGE_SIZE + 1)
        more = len(runs) > PAGE_SIZE
        runs = runs[:PAGE_SIZE]
        older = urlencode({**given, "before": runs[-1].id}) if more else None
        return render(
            "admin/jobs.html",
            runs=runs,
            filters=given,
            older=older,
            statuses=STATUSES,
            since_choices=list(SINCE),
            notice=_notice(),
        )

    @app.get("/admin/jobs/<job_id>")
    @admin_only
    def job_page(job_id: str) -> str:
        job = _job_or_none(job_id)
        if job is None:
            return page_error(404, "There is no job with that id.", "No such job")
        position = None
        ref = broker_ref()
        if ref is not None:
            try:
                position = job_position(ref, job)
            except (redis.RedisError, OSError):
                position = None
        template = "admin/_job.html" if context.is_htmx() else "admin/job.html"
        html = render(
            template,
            job=job,
            position=position,
            retryable=job.status in RETRYABLE,
            notice=_notice(),
            now=utcnow(),
        )
        if context.is_htmx() and not job.is_active:
            bottle.response.status = 286  # htmx: stop polling
        return html

    @app.post("/admin/jobs/<job_id>/retry")
    @admin_only
    def retry(job_id: str) -> str | bottle.HTTPResponse:
        job = _job_or_none(job_id)
        if job is None:
            return page_error(404, "There is no job with that id.", "No such job")
        try:
            result = retry_job(job, requested_by=f"admin:{context.current_user().spotify_id}")
        except JobActionError as problem:
            return page_error(409, f"{problem}.", "Cannot retry")
        notice = "retried" if result.created else "already-active"
        return _back(f"/admin/jobs/{result.job.id}", notice)

    @app.post("/admin/jobs/<job_id>/cancel")
    @admin_only
    def cancel(job_id: str) -> str | bottle.HTTPResponse:
        job = _job_or_none(job_id)
        if job is None:
            return page_error(404, "There is no job with that id.", "No such job")
        outcome = job.request_cancel()
        if outcome == "finished":
            return page_error(409, f"The job already ended {job.status}.", "Cannot cancel")
        return _back(f"/admin/jobs/{job.id}", outcome)

    @app.post("/admin/jobs/cancel-active")
    @admin_only
    def cancel_all() -> bottle.HTTPResponse:
        outcomes = cancel_active()
        asked = outcomes.get("cancelled", 0) + outcomes.get("cancelling", 0)
        return _back("/admin/jobs", "cancel-all", asked)

    @app.post("/admin/jobs/retry-failed")
    @admin_only
    def retry_failed() -> bottle.HTTPResponse:
        made = retry_all_failed(requested_by=f"admin:{context.current_user().spotify_id}")
        return _back("/admin/jobs", "retry-failed", made)

    @app.post("/admin/jobs/clean")
    @admin_only
    def clean() -> str | bottle.HTTPResponse:
        days = context.whole_number((bottle.request.forms.getunicode("days") or "").strip(), 4)
        if days is None or not 1 <= days <= 3650:
            return page_error(400, "Days must be a whole number from 1 to 3650.", "Cannot clean")
        removed = clean_finished_runs(retention_of_days(days)).removed
        return _back("/admin/jobs", "cleaned", removed)

    @app.post("/admin/queues/<queue>/<action:re:pause|resume>")
    @admin_only
    def queue_switch(queue: str, action: str) -> str | bottle.HTTPResponse:
        from jobs.queueing import QUEUES

        if queue not in QUEUES:
            return page_error(404, "There is no queue by that name.", "No such queue")
        ref = broker_ref()
        if ref is None:
            return page_error(503, "Redis is not configured, so queues cannot be paused.")
        try:
            (pause_queue if action == "pause" else resume_queue)(ref, queue)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the queue was not changed.")
        return _back("/admin", "paused" if action == "pause" else "resumed")
