"""The dashboard's schedules (``/admin/schedules``): every periodic job with its cron, its
next run (UTC), its last run and outcome, the scheduler lease holder, and "run now", which
claims that minute's tick the way the scheduler does, so a run by hand never doubles one.
Admins only; "run now" is a POST with the CSRF token, written to the audit trail."""

from __future__ import annotations

import bottle
import redis

from actors.scheduler_lease import claim_tick_by_hand, scheduler_status
from jobs import queueing
from models.db import utcnow
from ops.schedules import SCHEDULES, TRACKED, schedules
from web.http.auth_guard import admin_only
from web.http.request_context import page_error
from web.http.services import Services
from web.views.admin import admin_page, audit, back, confirm, redis_or_error, who


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the schedules' page and "run now" to ``app``."""

    @app.get("/admin/schedules")
    @admin_only
    def schedule_list() -> str:
        now = utcnow()
        status, redis_error = None, None
        ref = services.redis_ref
        try:
            status = scheduler_status(ref) if ref is not None else None
        except (redis.RedisError, OSError) as error:
            redis_error = f"Redis is not answering ({type(error).__name__})"
        return admin_page(
            "admin/schedules.html",
            "schedules",
            schedules=schedules(now),
            tracked=TRACKED,
            scheduler=status,
            redis_error=redis_error,
            now=now,
        )

    @app.get("/admin/schedules/<actor>/run")
    @admin_only
    def confirm_run_now(actor: str) -> str:
        # A refresh of every artist spends a day's worth of Spotify requests: ask first.
        if actor not in SCHEDULES:
            return page_error(404, "There is no periodic job by that name.", "No such job")
        return confirm(
            f"Run {actor} now",
            f"{actor} is sent at once, taking this minute's scheduled tick "
            f"(cron {SCHEDULES[actor]}, UTC): the scheduler then skips this minute.",
            f"Run {actor} now",
            "/admin/schedules",
            "schedules",
        )

    @app.post("/admin/schedules/<actor>/run")
    @admin_only
    def run_now(actor: str) -> str | bottle.HTTPResponse:
        if actor not in SCHEDULES:
            return page_error(404, "There is no periodic job by that name.", "No such job")
        ref = redis_or_error()
        if isinstance(ref, str):
            return ref
        try:
            if not claim_tick_by_hand(ref, actor, utcnow(), who()):
                return page_error(
                    409,
                    "This minute's run was sent already; ask again in a minute.",
                    "Already sent",
                )
            queueing.send(queueing.build_message(actor, queueing.PERIODIC_QUEUE, []))
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; nothing was sent.")
        audit("run-now", f"schedule:{actor}")
        return back("/admin/schedules", "ran")
