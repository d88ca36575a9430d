"""Inside a queue (``/admin/queues/<queue>``): its waiting, delayed and retrying messages, a
page of 50 at a time, each deleted on its own, or the whole queue purged after a page that
says how many messages it will take. Admins only; every action is a POST with the CSRF
token, written to the audit trail, and answered with a redirect that names what was done.
Job rows of the messages taken off end as cancelled (``ops.queue_messages``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import bottle
import redis

from config.redis_ref import RedisRef
from jobs.queueing import QUEUES
from models import JobRun
from models.db import utcnow
from ops import queue_messages as messages
from web.http import request_context
from web.http.auth_guard import admin_only
from web.http.request_context import page_error
from web.http.services import Services
from web.views.admin import admin_page, audit, back, confirm, is_message_id, redis_or_error

T = TypeVar("T")

NO_QUEUE = "There is no queue by that name."
NO_PAGE = "That page of the queue does not exist."
REDIS_AWAY = "Redis is not answering; nothing was changed."


def _queue_redis(queue: str) -> RedisRef | str:
    """Redis, for a queue that exists; else the page that says why not."""
    if queue not in QUEUES:
        return page_error(404, NO_QUEUE, "No such queue")
    return redis_or_error()


def _on_queue(queue: str, act: Callable[[RedisRef, str], T], failed: str) -> T | str:
    """``act`` on a queue that exists, or the page that says why it could not be done."""
    if isinstance(ref := _queue_redis(queue), str):
        return ref
    try:
        return act(ref, queue)
    except (redis.RedisError, OSError):
        return page_error(503, f"Redis is not answering; {failed}")


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the queue pages, the purge's confirmation and the actions to ``app``."""

    @app.get("/admin/queues/<queue>")
    @admin_only
    def queue_page(queue: str) -> str:
        if isinstance(ref := _queue_redis(queue), str):
            return ref
        query = bottle.request.query
        kind = query.get("kind") or "waiting"
        skip = request_context.whole_number(query.get("skip") or "0", 9)
        if kind not in messages.KINDS or skip is None:
            return page_error(400, NO_PAGE, "No such page")
        try:
            shown, counts = messages.read_queue(ref, queue, kind, skip)
        except (redis.RedisError, OSError):
            return page_error(503, "Redis is not answering; the queue cannot be read.")
        if skip and skip >= shown.total:  # past the end, or the queue shrank meanwhile
            holds = f"The {queue} queue holds {shown.total:,} {kind} messages now."
            return page_error(404, f"{NO_PAGE} {holds}", "No such page")
        tracked = JobRun.ids_by_message_id([m.message_id for m in shown.messages])
        return admin_page(
            "admin/queue.html",
            "overview",
            queue=queue,
            queues=QUEUES,
            kind=kind,
            kinds=messages.KINDS,
            page=shown,
            counts=counts,
            tracked=tracked,
            now=utcnow(),
        )

    @app.post("/admin/queues/<queue>/messages/<broker_id>/delete")
    @admin_only
    def delete_one(queue: str, broker_id: str) -> str | bottle.HTTPResponse:
        if isinstance(ref := _queue_redis(queue), str):
            return ref
        kind = bottle.request.forms.getunicode("kind") or "waiting"
        if not is_message_id(broker_id):
            return page_error(404, "There is no message with that id.", "No such message")
        try:
            removed = messages.delete_message(ref, queue, broker_id)
        except (redis.RedisError, OSError):
            return page_error(503, REDIS_AWAY)
        if removed is None:
            return page_error(
                404, "That message is no longer on the queue: a worker took it.", "Gone"
            )
        audit("delete", f"queue:{queue}:{broker_id}", removed.messages)
        kind = kind if kind in messages.KINDS else "waiting"
        return back(f"/admin/queues/{queue}", "message-deleted", removed.cancelled_jobs, kind=kind)

    @app.get("/admin/queues/<queue>/purge")
    @admin_only
    def confirm_purge(queue: str) -> str:
        n = _on_queue(queue, messages.count_removable, "the queue cannot be read.")
        if isinstance(n, str):
            return n
        sentence = (
            f"{n:,} messages (waiting, delayed and retrying) will be deleted from the {queue} "
            "queue for good. The job runs among them end as cancelled. Messages workers are "
            "running now are left alone."
        )
        return confirm(
            title=f"Purge the {queue} queue",
            sentence=sentence,
            button=f"Delete {n:,} messages",
            back=f"/admin/queues/{queue}",
            tab="overview",
        )

    @app.post("/admin/queues/<queue>/purge")
    @admin_only
    def purge(queue: str) -> str | bottle.HTTPResponse:
        removed = _on_queue(queue, messages.purge_queue, "the purge stopped part way.")
        if isinstance(removed, str):
            return removed
        audit("purge", f"queue:{queue}", removed.messages)
        return back(f"/admin/queues/{queue}", "purged", removed.messages, queue=queue)
