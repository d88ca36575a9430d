"""The JSON API for scripts and tests, with the same session as the pages.

The key names are a contract: scripts rely on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import wraps

import bottle

from models import ComparedWith, JobRun, User
from models.comparison import PersonSummary
from models.group import Group
from models.group_comparison import GroupFirst
from models.job_run import JobStatus, user_subject
from web.http import request_context
from web.http.auth_guard import api_not_signed_in, login_required
from web.http.request_context import as_json
from web.http.services import Services
from web.state.comparison_cache import ComparisonRefused
from web.views.comparison import ask_for_missing_counts, read_comparison
from web.views.friends import find_friend
from web.views.group import ask_for_group_counts, read_group
from web.views.sync_status import queue_position, sync_state


def _person(summary: PersonSummary, user: User) -> dict:
    return {
        "spotify_id": summary.spotify_id,
        "display_name": summary.display_name,
        "artist_count": summary.artist_count,
        "by_source": summary.by_source,
        "with_listeners": summary.with_listeners,
        "median_monthly_listeners": summary.median_monthly_listeners,
        "sync": sync_state(user),
    }


def _job(job: JobRun) -> dict:
    return {
        "id": job.id,
        "actor": job.actor,
        "status": job.status,
        # Messages waiting ahead of it while it is queued (0: next), else null.
        "position": queue_position(request_context.services().redis_ref, job),
        "progress": {
            "current": job.progress_current,
            "total": job.progress_total,
            "message": job.progress_message,
        },
        "totals": job.totals,
        "attempts": job.attempts,
        # Web API requests the job has made, all attempts together (the daily budget's unit).
        "api_requests": job.api_requests,
        "error": job.error if job.status == JobStatus.FAILED else None,
        "enqueued_at": job.enqueued_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "resume_at": job.resume_at,
        "eta_at": job.eta_at,
        "cancel_requested": job.cancel_requested,
    }


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the API routes to ``app``."""

    @app.get("/api/me")
    @login_required(otherwise=api_not_signed_in)
    def api_me(me: User) -> str:
        return as_json(
            {
                "spotify_id": me.spotify_id,
                "display_name": me.display_name,
                "friend_code": me.friend_code,
                "last_synced_at": me.last_synced_at,
                "needs_reauth": me.needs_reauth,
                "sync": sync_state(me),
            }
        )

    @app.get("/api/compare/<code>")
    @login_required(otherwise=api_not_signed_in)
    def api_compare(me: User, code: str) -> str:
        friend, problem, status = find_friend(code, malformed_status=404)
        if friend is None:
            return as_json({"error": problem}, status=status)
        if friend.id == me.id:
            return as_json({"error": "that is your own friend code"}, status=400)
        if not ComparedWith.can_see(me, friend):
            # A GET grants nothing: typing the code (POST /compare) is what lets you in.
            return as_json(
                {"error": "not shared with you: compare first with POST /compare"}, status=403
            )
        query = bottle.request.query
        limit, offset = _limit_and_offset()
        if limit is None or offset is None:
            return as_json({"error": "limit and offset must be whole numbers"}, status=400)
        try:
            view = read_comparison(
                services, me, friend, query.get("sort") or "listeners", limit=limit, offset=offset
            )
        except ComparisonRefused as refused:
            return as_json({"error": str(refused)}, status=refused.status)
        if view is None:
            return as_json({"error": "sort must be listeners, -listeners, name or -name"}, 400)
        # A script polls this as the page polls its fragment: the missing counts come sooner.
        ask_for_missing_counts(services, view)
        c = view["c"]
        return as_json(
            {
                "complete": view["complete"],
                "similarity": round(c.similarity, 6),
                # Both directions, and the headline that is fair to a small library.
                "my_share": round(c.my_share, 6),
                "their_share": round(c.their_share, 6),
                "match": round(c.match, 6),
                "shared_count": c.shared_count,
                "union_count": c.union_count,
                "pending_shared": c.pending_shared,
                "counts_resume_at": view["counts_resume_at"],
                "me": _person(c.me, me),
                "friend": _person(c.friend, friend),
                "shared": [dataclasses.asdict(a) for a in c.shared],
                "only_me": [dataclasses.asdict(a) for a in c.only_me],
                "only_friend": [dataclasses.asdict(a) for a in c.only_friend],
                "histogram": [dataclasses.asdict(b) for b in c.histogram],
                "limit": c.limit,
                "offset": c.offset,
                "sort": c.sort,
            }
        )

    @app.get("/api/groups/<key>")
    @login_required(otherwise=api_not_signed_in)
    def api_group(me: User, key: str) -> str:
        group = Group.visible_to(me, key)
        if group is None:
            return as_json({"error": "no such group"}, status=404)
        limit, offset = _limit_and_offset()
        if limit is None or offset is None:
            return as_json({"error": "limit and offset must be whole numbers"}, status=400)
        try:
            view = read_group(services, me, group, limit=max(1, limit), offset=offset)
        except ComparisonRefused as refused:
            return as_json({"error": str(refused)}, status=refused.status)
        # A script polls this as the page polls its fragment: the missing counts come sooner.
        ask_for_group_counts(services, view)
        return as_json(group_json(view))

    @app.get("/api/jobs/<job_id>")
    @login_required(otherwise=api_not_signed_in)
    @with_visible_job
    def api_job(me: User, job: JobRun) -> str:
        return as_json(_job(job))

    @app.post("/api/jobs/<job_id>/cancel")
    @login_required(otherwise=api_not_signed_in)
    @with_visible_job
    def api_cancel_job(me: User, job: JobRun) -> str:
        outcome = job.request_cancel()
        if outcome == "finished":
            return as_json({**_job(job), "error": f"the job already ended {job.status}"}, 409)
        return as_json({"outcome": outcome, **_job(JobRun.get_by_id(job.id))})


def _limit_and_offset() -> tuple[int | None, int | None]:
    """The page a list asks for (``?limit=&offset=``); None for what is not a whole number."""
    query = bottle.request.query
    limit = request_context.whole_number(query.get("limit") or "50", 4)
    return limit, request_context.whole_number(query.get("offset") or "0", 8)


def group_json(view: dict) -> dict:
    """A group as the API answers it (an invitee who has not joined: the names only)."""
    r = view["r"]
    return {
        "complete": view["complete"],
        "members": view["people"],
        "pairs": [
            {"a": p.a, "b": p.b, "shared": p.shared, "match": round(p.match, 6)}
            for p in (r.pairs if r else [])
        ],
        "everyone_count": r.everyone_count if r else 0,
        "artists_count": r.artists_count if r else 0,
        "artists": [
            {
                "spotify_id": a.spotify_id,
                "name": a.name,
                "monthly_listeners": a.monthly_listeners,
                "held_by": a.held_by,
                "first": _group_first(a.first),
            }
            for a in (r.artists if r else [])
        ],
    }


def _group_first(first: GroupFirst | None) -> dict | None:
    """Who saved a group's artist first: ``same_day`` only on a same-day tie."""
    if first is None:
        return None
    found: dict = {"member": first.member, "saved_at": first.saved_at}
    if first.same_day:
        found["same_day"] = first.same_day
    return found


def visible_job(me: User, job_id: str) -> JobRun | None:
    """The job with this id if ``me`` may see it (their own, or any for an admin)."""
    number = request_context.row_id(job_id)
    job = JobRun.get_or_none(JobRun.id == number) if number is not None else None
    if job is None or (job.subject != user_subject(me.id) and not request_context.is_admin(me)):
        return None
    return job


def with_visible_job(handler: Callable[[User, JobRun], str]) -> Callable[[User, str], str]:
    """Call a ``/api/jobs/<job_id>`` route with that job when ``me`` may see it, else
    answer 404 (the same for someone else's job as for none)."""

    @wraps(handler)
    def find_job(me: User, job_id: str) -> str:
        job = visible_job(me, job_id)
        if job is None:
            return as_json({"error": "no such job"}, status=404)
        return handler(me, job)

    return find_job
