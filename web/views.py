"""What more than one route shows: a person's sync, a comparison, the friend a code names,
a job's place in its queue.

Routes build their answers from these and never import each other (an import-linter
contract in ``pyproject.toml`` keeps it so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import bottle
import redis

from config.redis_ref import RedisRef
from jobs import queueing
from jobs.shared_first import send_shared_first
from models import JobRun, User, current_month
from models.comparison import SORTS
from models.db import utcnow
from models.job_run import JobStatus
from models.user import normalize_friend_code
from ops.queues import job_position
from sync.users import user_subject
from web import context, security_headers
from web.spotify_pause import counts_resume_at

# The pseudo-status of a person whose library no sync was ever asked for.
NEVER_SYNCED = "never"
# Shared artists on one page of a comparison.
COMPARISON_PAGE_SIZE = 50
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
    grace = dt.timedelta(0) if context.queue_refused() else DELAYED_AFTER
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
    decides whether the page polls (the API keeps its keys, so it is not added there)."""
    job = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    state = _sync_state(job)
    active = state["status"] in JobStatus.active()
    # Seconds to the end at the rate the job has seen so far (jobs/progress.py), for the
    # words "about 20 s"; None when the job has no estimate yet.
    eta_s = None
    if active and job is not None and job.eta_at is not None:
        eta_s = max(0, round((job.eta_at - utcnow()).total_seconds()))
    return {**state, "active": active, "eta_s": eta_s}


def counts_eta_s(pending: int) -> int:
    """About how many seconds the listener counts of ``pending`` artists take: the artist
    pages are read at ``SPOTIFY_PAGES_RATE`` for every worker together."""
    rate = max(context.settings().spotify_pages_rate, 0.1)
    return max(1, round(pending / rate))


def _guard_keys() -> tuple[int | None, str]:
    # A signed-out visitor (a share link's welcome page) is counted by address alone.
    user = context.current_user()
    return (user.id if user is not None else None), context.client_address()


def find_friend(raw: str, malformed_status: int = 400) -> tuple[User | None, str | None, int]:
    """The friend a typed code belongs to, or (None, why not, HTTP status)."""
    guard = bottle.request.app.config["overlap.guard"]
    keys = _guard_keys()
    if guard.blocked(*keys):
        return None, "Too many wrong codes. Wait ten minutes and try again.", 429
    code = normalize_friend_code(raw)
    if code is None:
        guard.failed(*keys)
        return (
            None,
            "That is not a friend code: a code has ten letters and digits.",
            malformed_status,
        )
    friend = User.get_or_none(User.friend_code == code)
    if friend is None:
        guard.failed(*keys)
        return None, "No one has that friend code. Check it with your friend.", 404
    return friend, None, 200


def comparison_view(
    me: User, friend: User, sort: str, limit: int = COMPARISON_PAGE_SIZE, offset: int = 0
) -> dict[str, Any] | None:
    """The values of the comparison fragment, or None for an unknown sort."""
    if sort not in SORTS:
        return None
    cache = bottle.request.app.config["overlap.comparisons"]
    month = current_month()
    result = cache.compare(me, friend, month, limit=limit, offset=offset, sort=sort)
    if result.pending_shared:
        _shared_first(me, friend, month)
    my_sync, their_sync = sync_view(me), sync_view(friend)
    syncing = my_sync["active"] or their_sync["active"]
    loaded = me.last_synced_at is not None and friend.last_synced_at is not None
    return {
        "me": me,
        "friend": friend,
        "c": result,
        "my_sync": my_sync,
        "their_sync": their_sync,
        "complete": loaded and not syncing and result.pending_shared == 0,
        # Spotify paused the counts (a 429 of hours): the page says until when.
        "counts_resume_at": counts_resume_at() if result.pending_shared else None,
        "counts_eta_s": counts_eta_s(result.pending_shared) if result.pending_shared else None,
        # Pictures of the rarest shared artists: the first page sorted rarest first is
        # exactly them, so the grid costs no query of its own.
        "grid": (
            [(a, shown_image(a.image_url)) for a in result.shared[:GRID_SIZE]]
            if sort == "listeners" and offset == 0
            else []
        ),
        "page": offset // result.limit + 1,
        "pages": max(1, -(-result.shared_count // result.limit)),
        "sort": sort,
        "code": friend.friend_code,
    }


def _shared_first(me: User, friend: User, month: str) -> None:
    """Ask for the shared artists' counts ahead of the rest (each artist once; see
    jobs/shared_first.py)."""
    ref = broker_ref()
    if ref is None:
        return
    # Without Redis the artists queue brings the counts all the same, only later.
    with contextlib.suppress(redis.RedisError):
        send_shared_first(ref, me.id, friend.id, month)


# The rarest shared artists shown as pictures above the table.
GRID_SIZE = 12


def shown_image(url: str | None) -> str | None:
    """``url`` when the page may load it: an http(s) picture from an origin the page's
    Content-Security-Policy allows. A picture from anywhere else would only be blocked
    (and reported), so it is drawn as a monogram instead."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    allowed = security_headers.image_origins(context.settings())
    return url if f"{parts.scheme}://{parts.netloc}" in allowed else None


def broker_ref() -> RedisRef | None:
    """The queues' Redis client and namespace, or None when Redis is not configured."""
    return bottle.request.app.config["overlap.redis_ref"]


def queue_position(job: JobRun) -> int | None:
    """How many messages wait ahead of a queued job (None unless it waits in a queue)."""
    ref = broker_ref()
    if ref is None:
        return None
    try:
        return job_position(ref, job)
    except redis.RedisError:
        return None  # The job's page still answers; only its place in line is missing.
