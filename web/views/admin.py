"""What the dashboard's route modules share (``web.routes.admin``, ``admin_dead``,
``admin_schedules``): a page under its tab with the notice an action's redirect carries,
who is acting, the audit record of an action, the page that asks before a bulk action,
and the job a ``/admin/jobs/<job_id>`` route is about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

import bottle

from config.redis_ref import RedisRef
from jobs.queueing import QUEUES
from models import AuditEntry, JobRun
from ops.counters import MinuteCounts
from web.http import request_context
from web.http.request_context import page_error, render, see_other

Answer = TypeVar("Answer")

# What an action's redirect may say: fixed sentences, filled with numbers only.
NOTICES = {
    "retried": "A new run of the job was sent.",
    "already-active": "That job already has a run queued or running; it is shown here.",
    "cancelled": "The job was cancelled.",
    "cancelling": "The job was asked to stop; it stops at its next checkpoint.",
    "cancel-all": "{n} jobs were asked to stop.",
    "retry-failed": "{n} failed jobs were sent again.",
    "cleaned": "{n} finished job runs were removed.",
    "paused": "The {queue} queue is paused: workers leave its messages waiting.",
    "resumed": "The {queue} queue is running again.",
    "message-deleted": "The message was deleted; {n} job runs of it ended as cancelled.",
    "purged": "{n} messages were deleted from the {queue} queue.",
    "spotify-resumed": "The pause of Spotify's requests is over: the work goes on now.",
    "not-paused": "Nothing was paused, so nothing changed.",
    "requeued": "{n} dead messages were put back on their queue.",
    "deleted": "{n} dead messages were deleted.",
    "ran": "The job was sent; this minute's scheduled tick will not be sent again.",
}


def notice() -> str | None:
    """The sentence the redirect after an action named (``?notice=...&n=...``), if any;
    a queue it names is one of ``QUEUES``, never text from the address."""
    text = NOTICES.get(bottle.request.query.get("notice") or "")
    n = request_context.whole_number(bottle.request.query.get("n"), 9) or 0
    queue = bottle.request.query.get("queue") or ""
    if text is None or ("{queue}" in text and queue not in QUEUES):
        return None
    return text.format(n=n, queue=queue)


def back(path: str, notice: str, n: int | None = None, **params: str) -> bottle.HTTPResponse:
    """The 303 after an action to ``path`` with ``params``, naming what was done."""
    query = {**params, "notice": notice, **({"n": str(n)} if n is not None else {})}
    return see_other(f"{path}?{urlencode(query)}")


def who() -> str:
    """Who is acting, as the audit trail and the job rows name them."""
    user = request_context.current_user()
    assert user is not None, "admin_only lets only a signed-in admin act"
    return f"admin:{user.spotify_id}"


def audit(action: str, target: str, count: int = 1) -> None:
    """Write the signed-in admin's action to the audit trail."""
    AuditEntry.record(who(), action, target, count)


def admin_page(template: str, tab: str, **values: Any) -> str:
    """A dashboard page under its ``tab``, with the notice its redirect named, if any."""
    return render(template, tab=tab, notice=notice(), **values)


def confirm(title: str, sentence: str, button: str, back: str, tab: str) -> str:
    """A page that asks before a bulk action, saying how many things it will touch.

    Its form posts to the address the page was asked at: each bulk action answers a GET
    with this page and does its work on a POST to the same address.
    """
    return render(
        "admin/confirm.html",
        title=title,
        sentence=sentence,
        action=bottle.request.path,
        button=button,
        back=back,
        tab=tab,
        notice=None,
    )


def with_job(handler: Callable[[JobRun], Answer]) -> Callable[[str], Answer | str]:
    """Call a ``/admin/jobs/<job_id>`` route with that job, or answer 404 when none has it."""

    @wraps(handler)
    def find_job(job_id: str) -> Answer | str:
        number = request_context.row_id(job_id)
        job = None if number is None else JobRun.by_id(number)
        if job is None:
            return page_error(404, "There is no job with that id.", "No such job")
        return handler(job)

    return find_job


def is_message_id(text: str) -> bool:
    """Whether ``text`` can be a broker message's id: ASCII letters, digits and dashes, at
    most 64 ("²".isalnum() is true, so ASCII is checked too)."""
    return len(text) <= 64 and text.isascii() and text.replace("-", "").isalnum()


def redis_or_error() -> RedisRef | str:
    """The broker's Redis reference, or the 503 page to answer when there is none."""
    ref = request_context.services().redis_ref
    if ref is None:
        return page_error(503, "Redis is not configured, so there are no queues.")
    return ref


@dataclass(frozen=True)
class Bar:
    """One bar of the jobs chart, placed on its 1000 x 200 canvas."""

    x: float
    width: float
    succeeded: float  # heights
    failed: float
    label: str  # what its tooltip says


def chart_bars(buckets: list[MinuteCounts], span: str) -> list[Bar]:
    """The jobs chart's bars: succeeded below, failed tries stacked above with a gap.

    Placed here rather than in the template: a week is 168 bars, and Jinja took longer to
    work them out than the page took to read them."""
    tallest = max([1, *(b.charted for b in buckets)])
    step = 1000 / max(len(buckets), 1)
    stamp = "%H:%M" if span == "1h" else "%d %b %H:00"
    bars = []
    for i, bucket in enumerate(buckets):
        ok = round(bucket.total.succeeded / tallest * 196, 1)
        failed = round(bucket.failed / tallest * 196, 1)
        label = (f"{bucket.minute.strftime(stamp)}: {bucket.total.succeeded} succeeded, "
                 f"{bucket.failed} failed tries")  # fmt: skip
        bars.append(Bar(round(i * step, 2), round(step * 0.75, 2), ok, failed, label))
    return bars
