"""Comparing with a friend: the code form, and the page that fills in as the jobs land.

The page never calls Spotify. It asks for a sync of either person whose data is missing
or stale, renders what the database has, and an htmx fragment polls every two seconds
until both syncs are done and every shared artist has this month's listener count (or was
tried and had none). The finished fragment carries no polling trigger.
"""

from __future__ import annotations

import bottle

from models import User, current_month
from models.comparison import SORTS
from models.user import normalize_friend_code
from web import context
from web.context import page_error, render, see_other
from web.routes.home import sync_state
from web.spotify_pause import counts_resume_at

PAGE_SIZE = 50
ACTIVE = ("queued", "running", "retrying")


def _guard_keys() -> tuple[str, str]:
    session = context.session()
    return session.csrf_token, bottle.request.remote_addr or "unknown"


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
    me: User, friend: User, sort: str, limit: int = PAGE_SIZE, offset: int = 0
) -> dict | None:
    """The values of the comparison fragment, or None for an unknown sort."""
    if sort not in SORTS:
        return None
    cache = bottle.request.app.config["overlap.comparisons"]
    result = cache.compare(me, friend, current_month(), limit=limit, offset=offset, sort=sort)
    my_sync, their_sync = sync_state(me), sync_state(friend)
    syncing = my_sync["status"] in ACTIVE or their_sync["status"] in ACTIVE
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
        "page": offset // result.limit + 1,
        "pages": max(1, -(-result.shared_count // result.limit)),
        "sort": sort,
        "code": friend.friend_code,
    }


def mount(app: bottle.Bottle) -> None:
    """Add the comparison routes to ``app``."""

    @app.post("/compare")
    def compare_form() -> str | bottle.HTTPResponse:
        me = context.current_user()
        if me is None:
            return see_other("/login")
        friend, problem, status = find_friend(bottle.request.forms.getunicode("friend_code") or "")
        if friend is None:
            return page_error(status, problem, title="Cannot compare")
        if friend.id == me.id:
            return page_error(400, "That is your own code: ask a friend for theirs.")
        return see_other(f"/compare/{friend.friend_code}")

    @app.get("/compare/<code>")
    def compare_page(code: str) -> str | bottle.HTTPResponse:
        me = context.current_user()
        if me is None:
            target = f"/compare/{code}" if normalize_friend_code(code) else "/"
            return see_other(f"/login?next={target}")
        friend, problem, status = find_friend(code, malformed_status=404)
        if friend is None:
            return page_error(status, problem, title="Cannot compare")
        if friend.id == me.id:
            return page_error(400, "That is your own code: send it to a friend to compare.")
        query = bottle.request.query
        page = context.whole_number(query.get("page") or "1", 5) or 0
        sort = query.get("sort") or "listeners"
        # A wrong page or sort is refused before anything is asked of the workers.
        if page < 1 or sort not in SORTS:
            return page_error(400, "That page of the comparison does not exist.")
        if not context.is_htmx():
            request_sync = app.config["overlap.sync"]
            request_sync(me, requested_by="comparison")
            request_sync(friend, requested_by="comparison")
        view = comparison_view(me, friend, sort, offset=(page - 1) * PAGE_SIZE)
        if context.is_htmx():
            html = render("_comparison.html", **view)
            if view["complete"]:
                bottle.response.status = 286  # htmx: stop polling (the markup has no trigger)
            return html
        return render("compare.html", **view)
