"""The dashboard's dead letters (``/admin/dead``): each queue's messages that failed for
good, with their error, requeued or deleted one by one or a whole queue at a time (after a
page that says how many). Admins only; every action is a POST with the CSRF token, written
to the audit trail, and answered with a redirect that names what was done."""

from __future__ import annotations

import bottle
import redis

from jobs.queueing import QUEUES
from models import JobRun
from ops import dead_letters as dead
from web.http import request_context
from web.http.auth_guard import admin_only
from web.http.request_context import page_error
from web.http.services import Services
from web.views.admin import admin_page, audit, back, confirm, is_message_id, redis_or_error


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the dead letters' page, its confirmations and its actions to ``app``."""

    @app.get("/admin/dead")
    @admin_only
    def dead_list() -> str:
        ref = redis_or_error()
        if isinstance(ref, str):
            return ref
        queue = bottle.request.query.get("queue") or ""
        skip = request_context.whole_number(bottle.request.query.get("skip") or "0", 7) or 0
        try:
            counts = {q: dead.count_dead(ref, q) for q in QUEUES}
            if queue not in QUEUES:
                queue = next((q for q in QUEUES if counts[q]), QUEUES[0])
            letters = dead.list_dead(ref, queue, limit=dead.PAGE + 1, skip=skip)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the dead letters cannot be read.")
        more = len(letters) > dead.PAGE
        letters = letters[: dead.PAGE]
        tracked = JobRun.ids_by_message_id([x.message_id for x in letters])
        older = skip + dead.PAGE if more else None
        return admin_page(
            "admin/dead.html",
            "dead",
            queue=queue,
            counts=counts,
            letters=letters,
            tracked=tracked,
            older=older,
        )

    @app.get("/admin/dead/<queue>/all/<action:re:requeue|delete>")
    @admin_only
    def confirm_dead_all(queue: str, action: str) -> str:
        ref = redis_or_error()
        if isinstance(ref, str):
            return ref
        if queue not in QUEUES:
            return page_error(404, "There is no queue by that name.", "No such queue")
        n = dead.count_dead(ref, queue)
        verb = "put back at the end of the queue" if action == "requeue" else "deleted for good"
        return confirm(
            f"{action.title()} every dead letter of {queue}",
            f"{n:,} dead messages of the {queue} queue will be {verb}.",
            f"{action.title()} {n:,} messages",
            f"/admin/dead?queue={queue}",
            "dead",
        )

    @app.post("/admin/dead/<queue>/<which>/<action:re:requeue|delete>")
    @admin_only
    def dead_action(queue: str, which: str, action: str) -> str | bottle.HTTPResponse:
        ref = redis_or_error()
        if isinstance(ref, str):
            return ref
        if queue not in QUEUES:
            return page_error(404, "There is no queue by that name.", "No such queue")
        if not is_message_id(which):
            return page_error(404, "There is no dead message with that id.", "No such message")
        try:
            if which == "all":
                every = dead.requeue_all_dead if action == "requeue" else dead.delete_all_dead
                n = every(ref, queue)
            else:
                some = dead.requeue_dead if action == "requeue" else dead.delete_dead
                n = some(ref, queue, [which])
                if n == 0:
                    return page_error(404, "That message is no longer dead-lettered.", "Gone")
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; nothing was changed.")
        audit(action, f"dead:{queue}:{which}", n)
        notice = "requeued" if action == "requeue" else "deleted"
        return back("/admin/dead", notice, n, queue=queue)
