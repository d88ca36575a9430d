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

from config.settings import DEVELOPMENT_MODE_PEOPLE
from jobs import queueing
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
from ops import dead_letters as dead
from ops.counters import durations, jobs_per_minute
from ops.pause import pause_queue, resume_queue
from ops.queues import job_position, queue_stats
from ops.schedules import SCHEDULES, TRACKED, schedules
from ops.workers import live_workers
from spotify.gate import SpotifyGate
from web import context, refused_sign_ins
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
    "requeued": "{n} dead messages were put back on their queue.",
    "deleted": "{n} dead messages were deleted.",
    "ran": "The job was sent; this minute's scheduled tick will not be sent again.",
}
AUDIT_PAGE = 50
# How many of the newest failed runs retry_all_failed looks at (its default limit).
RETRY_ALL_LIMIT = 1000


def _notice() -> str | None:
    text = NOTICES.get(bottle.request.query.get("notice") or "")
    n = context.whole_number(bottle.request.query.get("n"), 9) or 0
    return text.format(n=n) if text else None


def _who() -> str:
    """Who is acting, as the audit trail and the job rows name them."""
    return f"admin:{context.current_user().spotify_id}"


def _audit(action: str, target: str, count: int = 1) -> None:
    AuditEntry.record(_who(), action, target, count)


def _confirm(title: str, sentence: str, action: str, button: str, back: str) -> str:
    """A page that asks before a bulk action, saying how many things it will touch."""
    return render(
        "admin/confirm.html",
        title=title,
        sentence=sentence,
        action=action,
        button=button,
        back=back,
        tab="",
        notice=None,
    )


def _redis_or_error() -> Any:
    ref = broker_ref()
    if ref is None:
        return page_error(503, "Redis is not configured, so there are no queues.")
    return ref


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
        "durations": None,
        "limits": {
            "api": int(settings.spotify_api_rate * 60),
            "open": int(settings.spotify_pages_rate * 60),
        },
        "daily_budget": settings.spotify_daily_budget,
        # Spotify's Development Mode cap: the operator sees how many places are left.
        "people": User.select().count() if settings.spotify_app_mode == "development" else None,
        "people_cap": DEVELOPMENT_MODE_PEOPLE,
        "refused_sign_ins": None,
        "active": {s: JobRun.select().where(JobRun.status == s).count() for s in ACTIVE},
        "failures": JobRun.search(status=FAILED, limit=5),
        "audit": AuditEntry.latest(limit=8),
        "now": utcnow(),
    }
    ref = broker_ref()
    if ref is None:
        values["redis_error"] = "REDIS_URL is not set"
        return values
    try:
        from actors.scheduler_lease import scheduler_status

        workers = live_workers(ref)
        minutes = jobs_per_minute(ref, minutes=60)
        values.update(
            queues=queue_stats(ref, workers=workers),
            workers=workers,
            spotify=SpotifyGate(ref, settings).stats(),
            refused_sign_ins=refused_sign_ins.latest(ref),
            scheduler=scheduler_status(ref),
            minutes=minutes,
            durations=durations(minutes),
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
        return render(template, notice=_notice(), tab="overview", **overview_values())

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
            tab="failed" if given == {"status": FAILED} else "jobs",
            active_count=JobRun.select().where(JobRun.status.in_(ACTIVE)).count(),
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
            tab="jobs",
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
            result = retry_job(job, requested_by=_who())
        except JobActionError as problem:
            return page_error(409, f"{problem}.", "Cannot retry")
        _audit("retry", f"job:{job.id}", int(result.created))
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
        _audit("cancel", f"job:{job.id}")
        return _back(f"/admin/jobs/{job.id}", outcome)

    @app.get("/admin/jobs/cancel-active")
    @admin_only
    def confirm_cancel_all() -> str:
        n = JobRun.select().where(JobRun.status.in_(ACTIVE)).count()
        return _confirm(
            "Cancel everything",
            f"{n:,} jobs are queued, running or retrying. Each will be asked to stop: a "
            "waiting one at once, a running one at its next page.",
            "/admin/jobs/cancel-active",
            f"Cancel {n:,} jobs",
            "/admin/jobs",
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
        n = _retryable_failed()
        return _confirm(
            "Retry all failed",
            f"{n:,} failed runs will be looked at (the newest, {RETRY_ALL_LIMIT:,} at most). "
            "The newest failure of each person or job that nothing ran again since is sent "
            "as a new run.",
            "/admin/jobs/retry-failed",
            "Retry the failed jobs",
            "/admin/jobs",
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
        days = context.whole_number((bottle.request.forms.getunicode("days") or "").strip(), 4)
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
        ref = broker_ref()
        if ref is None:
            return page_error(503, "Redis is not configured, so queues cannot be paused.")
        try:
            (pause_queue if action == "pause" else resume_queue)(ref, queue)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the queue was not changed.")
        _audit(action, f"queue:{queue}")
        return _back("/admin", "paused" if action == "pause" else "resumed")

    @app.post("/admin/spotify/<kind:re:api|open>/resume")
    @admin_only
    def spotify_resume(kind: str) -> str | bottle.HTTPResponse:
        # For when the operator knows better than the Retry-After (their quota was raised).
        ref = broker_ref()
        if ref is None:
            return page_error(503, "Redis is not configured, so there is no pause to end.")
        try:
            ended = SpotifyGate(ref, context.settings()).resume(kind)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the pause was not ended.")
        _audit("resume", f"spotify:{kind}", int(ended))
        return _back("/admin", "resumed")

    mount_dead_letters(app)
    mount_schedules(app)

    @app.get("/admin/audit")
    @admin_only
    def audit() -> str:
        before = context.whole_number(bottle.request.query.get("before") or "", 11)
        entries = AuditEntry.latest(limit=AUDIT_PAGE + 1, before_id=before)
        older = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
        return render(
            "admin/audit.html", entries=entries[:AUDIT_PAGE], older=older, tab="audit", notice=None
        )


def _retryable_failed() -> int:
    """How many failed runs "Retry all failed" looks at: the newest, RETRY_ALL_LIMIT at most.

    Bounded, so that it reads at most that many entries of the (status, id) index instead
    of counting every failure the table holds.
    """
    newest = (
        JobRun.select(JobRun.id)
        .where(JobRun.status == FAILED)
        .order_by(JobRun.id.desc())
        .limit(RETRY_ALL_LIMIT)
    )
    return JobRun.select().where(JobRun.id.in_(newest) & JobRun.actor.in_(list(QUEUE_OF))).count()


def mount_dead_letters(app: bottle.Bottle) -> None:
    """The dead letters: each queue's failed-for-good messages, requeued or deleted."""

    @app.get("/admin/dead")
    @admin_only
    def dead_list() -> str:
        ref = _redis_or_error()
        if isinstance(ref, str):
            return ref
        queue = bottle.request.query.get("queue") or ""
        skip = context.whole_number(bottle.request.query.get("skip") or "0", 7) or 0
        try:
            counts = {q: dead.count_dead(ref, q) for q in QUEUES}
            if queue not in QUEUES:
                queue = next((q for q in QUEUES if counts[q]), QUEUES[0])
            letters = dead.list_dead(ref, queue, limit=dead.PAGE + 1, skip=skip)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the dead letters cannot be read.")
        more = len(letters) > dead.PAGE
        letters = letters[: dead.PAGE]
        tracked = {
            j.message_id: j.id
            for j in JobRun.select(JobRun.id, JobRun.message_id).where(
                JobRun.message_id.in_([x.message_id for x in letters])
            )
        } if letters else {}  # fmt: skip
        older = skip + dead.PAGE if more else None
        return render(
            "admin/dead.html",
            queue=queue,
            counts=counts,
            letters=letters,
            tracked=tracked,
            older=older,
            tab="dead",
            notice=_notice(),
        )

    @app.get("/admin/dead/<queue>/all/<action:re:requeue|delete>")
    @admin_only
    def confirm_dead_all(queue: str, action: str) -> str:
        ref = _redis_or_error()
        if isinstance(ref, str):
            return ref
        if queue not in QUEUES:
            return page_error(404, "There is no queue by that name.", "No such queue")
        n = dead.count_dead(ref, queue)
        verb = "put back at the end of the queue" if action == "requeue" else "deleted for good"
        return _confirm(
            f"{action.title()} every dead letter of {queue}",
            f"{n:,} dead messages of the {queue} queue will be {verb}.",
            f"/admin/dead/{queue}/all/{action}",
            f"{action.title()} {n:,} messages",
            f"/admin/dead?queue={queue}",
        )

    @app.post("/admin/dead/<queue>/<which>/<action:re:requeue|delete>")
    @admin_only
    def dead_action(queue: str, which: str, action: str) -> str | bottle.HTTPResponse:
        ref = _redis_or_error()
        if isinstance(ref, str):
            return ref
        if queue not in QUEUES:
            return page_error(404, "There is no queue by that name.", "No such queue")
        if len(which) > 64 or not which.replace("-", "").isalnum():
            return page_error(404, "There is no dead message with that id.", "No such message")
        try:
            if which == "all":
                fn = dead.requeue_all_dead if action == "requeue" else dead.delete_all_dead
                n = fn(ref, queue)
            else:
                fn = dead.requeue_dead if action == "requeue" else dead.delete_dead
                n = fn(ref, queue, [which])
                if n == 0:
                    return page_error(404, "That message is no longer dead-lettered.", "Gone")
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; nothing was changed.")
        _audit(action, f"dead:{queue}:{which}", n)
        return _back(
            f"/admin/dead?queue={queue}", "requeued" if action == "requeue" else "deleted", n
        )


def mount_schedules(app: bottle.Bottle) -> None:
    """The periodic jobs, their next and last runs, and "run now"."""
    from actors.scheduler_lease import claim_tick_by_hand, scheduler_status

    @app.get("/admin/schedules")
    @admin_only
    def schedule_list() -> str:
        now = utcnow()
        status, redis_error = None, None
        ref = broker_ref()
        try:
            status = scheduler_status(ref) if ref is not None else None
        except (redis.RedisError, OSError) as error:
            redis_error = f"Redis is not answering ({type(error).__name__})"
        return render(
            "admin/schedules.html",
            schedules=schedules(now),
            tracked=TRACKED,
            scheduler=status,
            redis_error=redis_error,
            now=now,
            tab="schedules",
            notice=_notice(),
        )

    @app.post("/admin/schedules/<actor>/run")
    @admin_only
    def run_now(actor: str) -> str | bottle.HTTPResponse:
        if actor not in SCHEDULES:
            return page_error(404, "There is no periodic job by that name.", "No such job")
        ref = _redis_or_error()
        if isinstance(ref, str):
            return ref
        try:
            if not claim_tick_by_hand(ref, actor, utcnow(), _who()):
                return page_error(
                    409,
                    "This minute's run was sent already; ask again in a minute.",
                    "Already sent",
                )
            queueing.send(queueing.build_message(actor, queueing.PERIODIC_QUEUE, []))
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; nothing was sent.")
        _audit("run-now", f"schedule:{actor}")
        return _back("/admin/schedules", "ran")
