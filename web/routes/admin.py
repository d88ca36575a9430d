"""The operations dashboard at ``/admin``: queues, workers, Spotify's limits, the scheduler,
jobs per minute, and the job runs, with the actions an operator needs.

Only admins (``ADMIN_SPOTIFY_IDS``; the demo user Emma in demo mode) get in: everyone
else gets 403 on every page and action, and a signed-out visitor is sent to sign in
first. Pages are server-rendered; the overview and an active job's page poll with htmx.
Every action is a POST with the CSRF token, answered with a redirect that names what was
done. What Redis holds (queues, workers, counters) is shown as unavailable when Redis does
not answer; the job runs come from the database and still show. The dead letters and the
schedules have modules of their own (``admin_dead``, ``admin_schedules``); what the three
share is in ``web.views.admin``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import bottle
import redis

from config.redis_ref import RedisRef
from config.settings import DEVELOPMENT_MODE_PEOPLE, Settings
from jobs.actions import (
    QUEUE_OF,
    RETRYABLE,
    JobActionError,
    cancel_active,
    retry_all_failed,
    retry_job,
)
from jobs.queueing import QUEUES
from jobs.retention import clean_finished_runs, retention_of_days
from models import AuditEntry, JobRun, User
from models.db import utcnow
from models.job_run import ACTIVE, FAILED, STATUSES
from ops.clock_watch import process_clocks
from ops.counters import jobs_over, jobs_per_minute, queue_rates
from ops.pause import pause_queue, resume_queue
from ops.queues import job_position, queue_stats
from ops.workers import live_workers
from spotify.gate import SpotifyGate
from web.http import request_context
from web.http.auth_guard import admin_only
from web.http.request_context import page_error, render
from web.http.services import Services
from web.state import refused_sign_ins
from web.views.admin import admin_page as _admin_page
from web.views.admin import audit as _audit
from web.views.admin import back as _back
from web.views.admin import chart_bars
from web.views.admin import confirm as _confirm
from web.views.admin import who as _who
from web.views.admin import with_job as _with_job

PAGE_SIZE = 50
SINCE = {"15m": 15, "1h": 60, "24h": 24 * 60, "7d": 7 * 24 * 60, "30d": 30 * 24 * 60}
AUDIT_PAGE = 50
# The overview's time ranges (its charts and durations), as the page names them.
SPANS = {"1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days"}
# A queue's rate (for its time to empty) is measured over this many whole minutes.
RATE_MINUTES = 10
# How many of the newest failed runs retry_all_failed looks at (its default limit).
RETRY_ALL_LIMIT = 1000


def overview_values(span: str = "1h") -> dict[str, Any]:
    """Everything the overview shows, its charts over ``span`` (one of ``SPANS``);
    Redis-backed parts are None when Redis is away."""
    settings = request_context.settings()
    values: dict[str, Any] = {
        "span": span,
        "span_label": SPANS[span],
        "spans": SPANS,
        "rates": {},
        "redis_error": None,
        "queues": None,
        "workers": None,
        "spotify": None,
        "scheduler": None,
        "minutes": None,
        "durations": None,
        "limits": {
            "api": int(settings.spotify_api_rate * 60),
            "open": int(settings.spotify_pages_rate * 60),
        },
        "daily_budget": settings.spotify_daily_budget,
        # Spotify's Development Mode cap: the operator sees how many places are left.
        "people": User.count_all() if settings.spotify_app_mode == "development" else None,
        "people_cap": DEVELOPMENT_MODE_PEOPLE,
        "refused_sign_ins": None,
        "active": JobRun.count_by_status(ACTIVE),
        "failures": JobRun.search(status=FAILED, limit=5),
        "audit": AuditEntry.latest(limit=8),
        "now": utcnow(),
    }
    ref = request_context.services().redis_ref
    if ref is None:
        values["redis_error"] = "REDIS_URL is not set"
        return values
    try:
        values.update(_redis_values(ref, settings, span))
    except (redis.RedisError, OSError) as error:
        values["redis_error"] = f"Redis is not answering ({type(error).__name__})"
    return values


def _redis_values(ref: RedisRef, settings: Settings, span: str) -> dict[str, Any]:
    """What the overview reads from Redis: queues, workers, Spotify, scheduler, charts."""
    from actors.scheduler_lease import scheduler_status

    workers = live_workers(ref)
    counts = jobs_over(ref, span)
    refused, refused_addresses = refused_sign_ins.most_refused(ref)
    return {
        # The last whole minutes, and this one (left out: it is still counting).
        "rates": queue_rates(jobs_per_minute(ref, RATE_MINUTES + 1), RATE_MINUTES),
        "queues": queue_stats(ref, workers=workers),
        "workers": workers,
        "clocks": process_clocks(ref),
        "spotify": SpotifyGate(ref, settings).stats(),
        "refused_sign_ins": refused,
        "refused_addresses": refused_addresses,
        "refused_window_days": refused_sign_ins.KEEP_DAYS,
        "scheduler": scheduler_status(ref),
        "minutes": counts.buckets,
        "bars": chart_bars(counts.buckets, span),
        "durations": counts.durations,
    }


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
        args["before_id"] = request_context.row_id(before)
        if args["before_id"] is None:
            return "That page of the job list does not exist."
    return given, args


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the dashboard's pages and actions to ``app``."""

    @app.get("/admin")
    @admin_only
    def overview() -> str:
        span = bottle.request.query.get("range") or "1h"
        if span not in SPANS:
            return page_error(400, f"Range must be one of: {', '.join(SPANS)}.", "No such range")
        template = "admin/_overview.html" if request_context.is_htmx() else "admin/overview.html"
        return _admin_page(template, "overview", **overview_values(span))

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
        return _admin_page(
            "admin/jobs.html",
            "failed" if given == {"status": FAILED} else "jobs",
            runs=runs,
            filters=given,
            older=older,
            statuses=STATUSES,
            since_choices=list(SINCE),
            active_count=JobRun.active_count(),
        )

    @app.get("/admin/jobs/<job_id>")
    @admin_only
    @_with_job
    def job_page(job: JobRun) -> str:
        position = None
        ref = services.redis_ref
        if ref is not None:
            try:
                position = job_position(ref, job)
            except (redis.RedisError, OSError):
                position = None
        template = "admin/_job.html" if request_context.is_htmx() else "admin/job.html"
        html = _admin_page(
            template,
            "jobs",
            job=job,
            position=position,
            retryable=job.status in RETRYABLE,
            now=utcnow(),
        )
        if request_context.is_htmx() and not job.is_active:
            bottle.response.status = 286  # htmx: stop polling
        return html

    @app.post("/admin/jobs/<job_id>/retry")
    @admin_only
    @_with_job
    def retry(job: JobRun) -> str | bottle.HTTPResponse:
        try:
            result = retry_job(job, requested_by=_who())
        except JobActionError as problem:
            return page_error(409, f"{problem}.", "Cannot retry")
        _audit("retry", f"job:{job.id}", int(result.created))
        notice = "retried" if result.created else "already-active"
        return _back(f"/admin/jobs/{result.job.id}", notice)

    @app.post("/admin/jobs/<job_id>/cancel")
    @admin_only
    @_with_job
    def cancel(job: JobRun) -> str | bottle.HTTPResponse:
        outcome = job.request_cancel()
        if outcome == "finished":
            return page_error(409, f"The job already ended {job.status}.", "Cannot cancel")
        _audit("cancel", f"job:{job.id}")
        return _back(f"/admin/jobs/{job.id}", outcome)

    @app.get("/admin/jobs/cancel-active")
    @admin_only
    def confirm_cancel_all() -> str:
        n = JobRun.active_count()
        return _confirm(
            "Cancel everything",
            f"{n:,} jobs are queued, running or retrying. Each will be asked to stop: a "
            "waiting one at once, a running one at its next page.",
            f"Cancel {n:,} jobs",
            "/admin/jobs",
            "jobs",
        )

    @app.post("/admin/jobs/cancel-active")
    @admin_only
    def cancel_all() -> bottle.HTTPResponse:
        outcomes = cancel_active()
        asked = outcomes.get("cancelled", 0) + outcomes.get("cancelling", 0)
        _audit("cancel-all", "jobs:active", asked)
        return _back("/admin/jobs", "cancel-all", asked)

    @app.get("/admin/jobs/retry-failed")
    @admin_only
    def confirm_retry_failed() -> str:
        # What retry_all_failed looks at: the newest failures, of the actors it can send.
        n = JobRun.newest_failed_count(QUEUE_OF.keys(), limit=RETRY_ALL_LIMIT)
        return _confirm(
            "Retry all failed",
            f"{n:,} failed runs will be looked at (the newest, {RETRY_ALL_LIMIT:,} at most). "
            "The newest failure of each person or job that nothing ran again since is sent "
            "as a new run.",
            "Retry the failed jobs",
            "/admin/jobs",
            "jobs",
        )

    @app.post("/admin/jobs/retry-failed")
    @admin_only
    def retry_failed() -> bottle.HTTPResponse:
        made = retry_all_failed(requested_by=_who())
        _audit("retry-all", "jobs:failed", made)
        return _back("/admin/jobs", "retry-failed", made)

    @app.post("/admin/jobs/clean")
    @admin_only
    def clean() -> str | bottle.HTTPResponse:
        days = request_context.whole_number(
            (bottle.request.forms.getunicode("days") or "").strip(), 4
        )
        if days is None or not 1 <= days <= 3650:
            return page_error(400, "Days must be a whole number from 1 to 3650.", "Cannot clean")
        removed = clean_finished_runs(retention_of_days(days)).removed
        _audit("clean", f"jobs:older-than-{days}d", removed)
        return _back("/admin/jobs", "cleaned", removed)

    @app.post("/admin/queues/<queue>/<action:re:pause|resume>")
    @admin_only
    def queue_switch(queue: str, action: str) -> str | bottle.HTTPResponse:
        if queue not in QUEUES:
            return page_error(404, "There is no queue by that name.", "No such queue")
        ref = services.redis_ref
        if ref is None:
            return page_error(503, "Redis is not configured, so queues cannot be paused.")
        try:
            changed = (pause_queue if action == "pause" else resume_queue)(ref, queue)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the queue was not changed.")
        _audit(action, f"queue:{queue}", int(changed))
        if action == "resume" and not changed:
            return _back("/admin", "not-paused")
        return _back("/admin", "paused" if action == "pause" else "resumed", queue=queue)

    @app.post("/admin/spotify/<kind:re:api|open>/resume")
    @admin_only
    def spotify_resume(kind: str) -> str | bottle.HTTPResponse:
        # For when the operator knows better than the Retry-After (their quota was raised).
        ref = services.redis_ref
        if ref is None:
            return page_error(503, "Redis is not configured, so there is no pause to end.")
        try:
            ended = SpotifyGate(ref, request_context.settings()).resume(kind)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the pause was not ended.")
        _audit("resume", f"spotify:{kind}", int(ended))
        return _back("/admin", "spotify-resumed" if ended else "not-paused")

    @app.get("/admin/audit")
    @admin_only
    def audit() -> str:
        before = request_context.row_id(bottle.request.query.get("before"))
        entries = AuditEntry.latest(limit=AUDIT_PAGE + 1, before_id=before)
        older = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
        return render(
            "admin/audit.html", entries=entries[:AUDIT_PAGE], older=older, tab="audit", notice=None
        )
