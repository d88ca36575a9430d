"""Comparing with a friend: the code form, and the page that fills in as the jobs land.

A friend code only opens the door: typing it (``POST /compare``, with the CSRF token) or
pressing "Compare with Ana" on the page a code's link shows lets the two of you see each
other's library (``models/compared.py``). Opening anything by GET grants nothing. The
comparison itself lives at ``/with/<id>``, which answers only someone let in, so no page
ever hands out a friend code.

The page never calls Spotify. It asks for a sync of either person whose data is missing
or stale, renders what the database has, and an htmx fragment polls every two seconds
until both syncs are done and every shared artist has this month's listener count (or was
tried and had none). The finished fragment carries no polling trigger.
"""

from __future__ import annotations

import bottle

from models import ComparedWith, User
from models.comparison import SORTS
from models.user import normalize_friend_code
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
    send_card_pictures,
    share_card,
    shown_image,
)
from web.views.friends import find_friend, shared_friend
from web.views.share_card import render_invitation


def _sign_in_and_come_back(code: str, **_: object) -> str | bottle.HTTPResponse:
    # A signed-out person who follows a share link is welcomed first: who asks, what will
    # be read and kept, then the sign-in that comes back here. A poll whose session ended
    # goes straight to sign-in, as does a code that cannot be one (home instead).
    # The code as normalized, never as typed: a typed one may hold a line break, which
    # would break the Location header (a 500).
    normalized = normalize_friend_code(code)
    target = f"/compare/{normalized}" if normalized else "/"
    if request_context.is_htmx() or normalized is None:
        return see_other(f"/login?next={target}")
    # The same guess limit as signed in: a welcome page must not tell codes apart faster.
    friend, problem, status = find_friend(normalized)
    if friend is None:
        return page_error(status, problem or "", title="This link does not work")
    # It names a person: no shared cache or browser history keeps it.
    bottle.response.set_header("Cache-Control", "private, no-store")
    return render(
        "welcome.html",
        friend=friend,
        next=target,
        share_url=f"{request_context.settings().base_url}{target}",
        invite_image=f"{request_context.settings().base_url}{target}/invite.png",
    )


def _no_card(*_: object, **__: object) -> str:
    return page_error(404, NO_COMPARISON, title="Cannot compare")


def _sign_in_and_return(person: str, **_: object) -> bottle.HTTPResponse:
    # Signed out at a comparison's address: sign in, then back to it (the id as digits only,
    # never as typed, which could break the Location header).
    number = request_context.row_id(person)
    return see_other(f"/login?next=/with/{number}" if number is not None else "/login")


OWN_CODE = "That's your own code — send it to a friend, and ask them for theirs."


REMOVED = "{name} has taken back your access to their library. Ask them to invite you again."
NO_COMPARISON = "There is no comparison here."


def _form_refused(status: int, problem: str, typed: str) -> str:
    # The error goes under the field with what was typed kept, never on a page of its own:
    # htmx swaps the form in place (a 200, or htmx would not swap it); without JavaScript
    # the same form comes back on a small page with the real status.
    if request_context.is_htmx():
        return render("_compare_form.html", compare_error=problem, typed_code=typed[:64])
    return render("compare_form.html", status=status, compare_error=problem, typed_code=typed[:64])


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the comparison routes to ``app``."""

    @app.post("/compare")
    @login_required(otherwise=sign_in_first)
    def compare_form(me: User) -> str | bottle.HTTPResponse:
        typed = bottle.request.forms.getunicode("friend_code") or ""
        friend, problem, status = find_friend(typed)
        if friend is None:
            return _form_refused(status, problem or "", typed)
        if friend.id == me.id:
            return _form_refused(400, OWN_CODE, typed)
        # The one act that lets the two of you see each other's library.
        if not ComparedWith.let_in(me, friend):
            return _form_refused(403, REMOVED.format(name=friend.name), typed)
        if request_context.is_htmx():
            # htmx swaps what it gets; a redirect of the whole page is asked in a header.
            bottle.response.set_header("HX-Redirect", f"/with/{friend.id}")
            return ""
        return see_other(f"/with/{friend.id}")

    @app.get("/compare/<code>")
    @login_required(otherwise=_sign_in_and_come_back)
    def compare_code(me: User, code: str) -> str | bottle.HTTPResponse:
        # A code's link: straight to the comparison for someone already let in, else the
        # page that asks (its button is the POST above). Following the link grants nothing.
        # A link, not a typed code: one to someone on your own list is no guess.
        friend, problem, status = find_friend(code, malformed_status=404, known_to=me)
        if friend is None or friend.id == me.id:
            status, problem = (status, problem or "") if friend is None else (400, OWN_CODE)
            if request_context.is_htmx():
                return page_error(status, problem, title="Cannot compare")
            return _form_refused(status, problem, code)
        if ComparedWith.can_see(me, friend):
            return see_other(f"/with/{friend.id}")
        return render(
            "compare_ask.html",
            friend=friend,
            me=me,
            code=friend.friend_code,
            picture=shown_image(friend.image_url),
        )

    @app.get("/compare/<code>/invite.png")
    def invitation_picture(code: str) -> bytes | str:
        # The welcome page's preview picture: public (chats fetch it signed out), naming
        # only the person who invites, behind the same guess limit as the page.
        friend, problem, status = find_friend(code, malformed_status=404)
        if friend is None:
            return page_error(status, problem or "", title="This link does not work")
        bottle.response.content_type = "image/png"
        bottle.response.set_header("Cache-Control", "private, no-store")
        return render_invitation(friend.name)

    @app.get("/with/<person>")
    @login_required(otherwise=_sign_in_and_return)
    def compare_page(me: User, person: str) -> str | bottle.HTTPResponse:
        friend = shared_friend(me, person)
        if friend is None:
            return page_error(404, NO_COMPARISON, title="Cannot compare")
        asked = _page_and_sort()
        if isinstance(asked, str):
            return asked
        page, sort = asked
        if request_context.is_htmx():
            return _poll(services, me, friend, page, sort)
        # Opening the page (not its polls) asks for a sync of either library that is missing
        # or stale: the design's "partial results at once, filled in as the jobs land".
        sync_stale_libraries(services, me, friend)
        view = _read(services, me, friend, page, sort)
        if isinstance(view, str):
            return view
        ask_for_missing_counts(services, view)
        # The share card's pictures, fetched by a worker: the card never fetches them.
        send_card_pictures(services, me, friend)
        # Both rows show when it was opened, and its match once that is final (a library
        # not loaded yet would read "0% match"; opening grants nothing).
        ComparedWith.opened(me, friend, view["c"].match if view["shared_final"] else None)
        return render("compare.html", **view)

    @app.get("/with/<person>/card.png")
    @login_required(otherwise=_no_card)
    def card(me: User, person: str) -> bytes | str:
        # Only the two people, signed in, get it: anyone else (a chat's preview bot among
        # them) gets the same 404 as for no comparison at all.
        friend = shared_friend(me, person)
        if friend is None:
            return _no_card()
        view = _read(services, me, friend, 1, "listeners")
        if isinstance(view, str):
            return view
        bottle.response.content_type = "image/png"
        bottle.response.set_header("Cache-Control", "private, no-store")
        bottle.response.set_header("Content-Disposition", 'attachment; filename="overlap.png"')
        return share_card(view)

    @app.get("/with/<person>/only-<side:re:you|them>")
    @login_required(otherwise=_sign_in_and_return)
    def only_one_side(me: User, person: str, side: str) -> str | bottle.HTTPResponse:
        friend = shared_friend(me, person)
        if friend is None:
            return page_error(404, NO_COMPARISON, title="Cannot compare")
        return only_side_page(services, me, friend, side, f"/with/{friend.id}")


def sync_stale_libraries(services: Services, me: User, friend: User) -> None:
    """Ask for a sync of each of the two libraries that is missing or stale."""
    services.request_sync(me, requested_by="comparison")
    services.request_sync(friend, requested_by="comparison")


def _page_and_sort() -> tuple[int, str] | str:
    """The page and sort the query asks for, or the page refusing them. A wrong page or
    sort is refused before anything is asked of the workers."""
    query = bottle.request.query
    page = request_context.whole_number(query.get("page") or "1", 5) or 0
    sort = query.get("sort") or "listeners"
    if page < 1 or sort not in SORTS:
        return page_error(400, "That page of the comparison does not exist.")
    return page, sort


def _read(services: Services, me: User, friend: User, page: int, sort: str) -> dict | str:
    """The comparison's values, or the page saying why it cannot be computed now."""
    try:
        view = read_comparison(services, me, friend, sort, offset=(page - 1) * COMPARISON_PAGE_SIZE)
    except ComparisonRefused as refused:
        return page_error(refused.status, str(refused), title="Cannot compare")
    assert view is not None, "the sort was checked"
    return view


def _poll(services: Services, me: User, friend: User, page: int, sort: str) -> str:
    """The fragment a poll swaps in; its 286 status stops the polling once complete."""
    view = _read(services, me, friend, page, sort)
    if isinstance(view, str):
        return view
    # The page polls until the counts are in: each poll asks for the ones still missing.
    ask_for_missing_counts(services, view)
    html = render("_comparison.html", **view)
    if view["shared_final"]:
        # The home lists show the finished figure (a write only when it changed).
        ComparedWith.update_match(me, friend, view["c"].match)
    if view["done"]:
        # The card's artists are final now: fetch their pictures if the open did not.
        send_card_pictures(services, me, friend)
        bottle.response.status = 286  # htmx: stop polling (the markup has no trigger)
    return html
