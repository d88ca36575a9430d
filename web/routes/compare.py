"""Comparing with a friend: the code form, and the page that fills in as the jobs land.

The page never calls Spotify. It asks for a sync of either person whose data is missing
or stale, renders what the database has, and an htmx fragment polls every two seconds
until both syncs are done and every shared artist has this month's listener count (or was
tried and had none). The finished fragment carries no polling trigger.
"""

from __future__ import annotations

import bottle

from models import User
from models.comparison import SORTS
from models.user import normalize_friend_code
from web import context
from web.auth_guard import login_required, sign_in_first
from web.comparison_cache import ComparisonRefused
from web.context import page_error, render, see_other
from web.views import COMPARISON_PAGE_SIZE, comparison_view, find_friend


def _sign_in_and_come_back(code: str) -> bottle.HTTPResponse:
    # Back to this comparison after sign-in; a code that cannot be one goes home instead.
    # The code as normalized, never as typed: a typed one may hold a line break, which
    # would break the Location header (a 500).
    normalized = normalize_friend_code(code)
    target = f"/compare/{normalized}" if normalized else "/"
    return see_other(f"/login?next={target}")


def mount(app: bottle.Bottle) -> None:
    """Add the comparison routes to ``app``."""

    @app.post("/compare")
    @login_required(otherwise=sign_in_first)
    def compare_form(me: User) -> str | bottle.HTTPResponse:
        friend, problem, status = find_friend(bottle.request.forms.getunicode("friend_code") or "")
        if friend is None:
            return page_error(status, problem, title="Cannot compare")
        if friend.id == me.id:
            return page_error(400, "That is your own code: ask a friend for theirs.")
        return see_other(f"/compare/{friend.friend_code}")

    @app.get("/compare/<code>")
    @login_required(otherwise=_sign_in_and_come_back)
    def compare_page(me: User, code: str) -> str | bottle.HTTPResponse:
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
        try:
            view = comparison_view(me, friend, sort, offset=(page - 1) * COMPARISON_PAGE_SIZE)
        except ComparisonRefused as refused:
            return page_error(refused.status, str(refused), title="Cannot compare")
        if context.is_htmx():
            html = render("_comparison.html", **view)
            if view["complete"]:
                bottle.response.status = 286  # htmx: stop polling (the markup has no trigger)
            return html
        return render("compare.html", **view)
