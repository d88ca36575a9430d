"""Groups of friends: the form that invites, joining and leaving, the page that fills in.

Typing codes (``POST /groups``) invites those people and grants the one who typed them
nothing: an invitee's library counts only once they join (``POST /groups/<id>/join``).
Every group address answers 404 alike to anyone not in it and for a group that does not
exist. The page never calls Spotify: opening it asks for a sync of each member whose
library is stale, and it polls every two seconds until complete, as a comparison does.
"""

from __future__ import annotations

import bottle

from models import User
from models.comparison import SORTS
from models.group import Group, Member
from web.http import request_context
from web.http.auth_guard import login_required, sign_in_first
from web.http.request_context import page_error, render, see_other
from web.http.services import Services
from web.state.comparison_cache import ComparisonRefused
from web.views.comparison import (
    COMPARISON_PAGE_SIZE,
    ask_for_missing_counts,
    only_side_page,
    read_comparison,
)
from web.views.group import (
    GROUP_PAGE_SIZE,
    ask_for_group_counts,
    friends_of_codes,
    member_by_number,
    read_group,
    sync_stale_members,
    typed_codes,
)

NO_GROUP = "There is no group here."


def _form_refused(status: int, problem: str, typed: str) -> str:
    # As the comparison form: htmx swaps the form in place (a 200); without JavaScript
    # the same form comes back on a small page with the real status.
    if request_context.is_htmx():
        return render("_group_form.html", group_error=problem, typed_codes=typed[:256])
    return render("group_form.html", status=status, group_error=problem, typed_codes=typed[:256])


def _redirect(location: str) -> str | bottle.HTTPResponse:
    if request_context.is_htmx():
        bottle.response.set_header("HX-Redirect", location)
        return ""
    return see_other(location)


def _page_number() -> int | None:
    page = request_context.whole_number(bottle.request.query.get("page") or "1", 5) or 0
    return page if page >= 1 else None


def _pair(me: User, key: str, a: str, b: str) -> tuple[Group, Member, Member, Member] | None:
    """The group, the viewer and the two joined members a pair's address names, seen from
    the viewer's side when they are one of the two; None for anyone not a joined member."""
    group = Group.visible_to(me, key)
    members = group.members() if group is not None else []
    mine = next((m for m in members if m.user.id == me.id and m.joined), None)
    first, second = member_by_number(members, a), member_by_number(members, b)
    if group is None or mine is None or first is None or second is None or first == second:
        return None
    return (group, mine, second, first) if second.user.id == me.id else (group, mine, first, second)


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the group routes to ``app``."""
    max_members = services.settings.group_max_members

    @app.get("/groups/new")
    @login_required(otherwise=sign_in_first)
    def new_group(me: User) -> str:
        return render("group_form.html", typed_codes="")

    @app.post("/groups")
    @login_required(otherwise=sign_in_first)
    def create_group(me: User) -> str | bottle.HTTPResponse:
        typed = bottle.request.forms.getunicode("friend_codes") or ""
        friends, problem, status = friends_of_codes(me, typed_codes(typed), max_members)
        if problem is not None:
            return _form_refused(status, problem, typed)
        group = Group.start(me, friends)
        return _redirect(f"/groups/{group.key}")

    @app.get("/groups/<key>")
    @login_required(otherwise=sign_in_first)
    def group_page(me: User, key: str) -> str | bottle.HTTPResponse:
        group = Group.visible_to(me, key)
        page = _page_number()
        if group is None:
            return page_error(404, NO_GROUP, title="No such group")
        if page is None:
            return page_error(400, "That page of the group does not exist.")
        try:
            view = read_group(services, me, group, offset=(page - 1) * GROUP_PAGE_SIZE)
        except ComparisonRefused as refused:
            return page_error(refused.status, str(refused), title="Cannot compare")
        ask_for_group_counts(services, view)
        if request_context.is_htmx():
            html = render("_group.html", **view)
            if view["complete"] or not view["mine"].joined:
                bottle.response.status = 286  # htmx: stop polling (the markup has no trigger)
            return html
        # Opening the page (not its polls) asks for a sync of each stale library.
        if view["mine"].joined:
            sync_stale_members(services, view)
        return render("group.html", **view)

    @app.post("/groups/<key>/<act:re:join|leave>")
    @login_required(otherwise=sign_in_first)
    def join_or_leave(me: User, key: str, act: str) -> str | bottle.HTTPResponse:
        # Each person's own act, by POST with the CSRF token: joining shows their library
        # to the group's members, leaving ends that at once.
        group = Group.visible_to(me, key)
        if group is None:
            return page_error(404, NO_GROUP, title="No such group")
        if act == "join":
            group.join(me)
            return _redirect(f"/groups/{group.key}")
        group.leave(me)
        return _redirect("/")

    @app.get("/groups/<key>/pairs/<a>/<b>/only-<side:re:you|them>")
    @login_required(otherwise=sign_in_first)
    def group_pair_only(me: User, key: str, a: str, b: str, side: str) -> str:
        found = _pair(me, key, a, b)
        if found is None:
            return page_error(404, NO_GROUP, title="No such group")
        group, _, first, second = found
        base = f"/groups/{group.key}/pairs/{first.number}/{second.number}"
        return only_side_page(services, first.user, second.user, side, base, viewer=me)

    @app.get("/groups/<key>/pairs/<a>/<b>")
    @login_required(otherwise=sign_in_first)
    def group_pair(me: User, key: str, a: str, b: str) -> str | bottle.HTTPResponse:
        found = _pair(me, key, a, b)
        if found is None:
            return page_error(404, NO_GROUP, title="No such group")
        group, mine, first, second = found
        page, sort = _page_number(), bottle.request.query.get("sort") or "listeners"
        if page is None or sort not in SORTS:
            return page_error(400, "That page of the comparison does not exist.")
        try:
            # The member looking pays for the computation, who may be neither of the two.
            view = read_comparison(
                services, first.user, second.user, sort,
                offset=(page - 1) * COMPARISON_PAGE_SIZE, viewer=me,
            )  # fmt: skip
        except ComparisonRefused as refused:
            return page_error(refused.status, str(refused), title="Cannot compare")
        assert view is not None, "a known sort"
        ask_for_missing_counts(services, view)
        view["base"] = f"/groups/{group.key}/pairs/{first.number}/{second.number}"
        values = {**view, "group": group, "first": first, "second": second, "mine": mine}
        if request_context.is_htmx():
            html = render("_comparison.html", **values)
            if view["complete"]:
                bottle.response.status = 286
            return html
        return render("group_pair.html", **values)
