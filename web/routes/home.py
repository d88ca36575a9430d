"""The signed-in person's own pages: home, the first-sync loading page, refresh, delete."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import bottle

from models import ComparedWith, User, current_month
from models.account import delete_account as delete_account_of
from models.group import Group
from models.library import SORTS, library_page
from web.http import request_context
from web.http.auth_guard import login_required, not_signed_in_page, sign_in_first
from web.http.request_context import page_error, render, see_other
from web.http.services import Services
from web.state.personal_keys import forget_person
from web.state.refresh_cooldown import next_refresh_at
from web.state.spotify_pause import counts_resume_at
from web.views.comparison import shown_image
from web.views.sync_status import sync_view

PAGE_SIZE = 50


def _landing(*_: object, **__: object) -> str:
    # Signed out, the home address is the landing page, not a sign-in redirect.
    return render("landing.html")


def _next_refresh(user: User) -> dt.datetime | None:
    return next_refresh_at(user, request_context.settings().refresh_cooldown_seconds)


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the home routes to ``app``."""

    @app.get("/")
    @login_required(otherwise=_landing)
    def home(user: User) -> str:
        query = bottle.request.query
        sort = query.get("sort") or "name"
        raw_page = query.get("page")
        page = request_context.whole_number(raw_page, 8) if raw_page else 1
        if sort not in SORTS or page is None or page < 1:
            return page_error(400, "That page of your artists does not exist.")
        total, artists = library_page(
            user.id, current_month(), sort=sort, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        pending = any(not a.has_row for a in artists)
        return render(
            "home.html",
            me=user,
            sync=sync_view(user),
            counts=user.artist_counts(),
            artists=artists,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            sort=sort,
            # From BASE_URL, never from the request's Host, which the client chooses.
            share_link=f"{request_context.settings().base_url}/compare/{user.friend_code}",
            counts_resume_at=(
                counts_resume_at(services.redis_ref, services.settings) if pending else None
            ),
            next_refresh_at=_next_refresh(user),
            people=ComparedWith.people_of(user),
            groups=[(group, joined, group.members()) for group, joined, _ in Group.of(user)],
            # A profile picture is shown only from a host the page's CSP allows.
            picture_of=shown_image,
        )

    @app.get("/sync-status")
    @login_required(otherwise=not_signed_in_page("Sign in to see your sync."))
    def sync_status(user: User) -> str:
        sync = sync_view(user)
        if request_context.is_htmx() and not sync["active"]:
            # Only a running sync polls, so this poll saw it end: reload the page, whose
            # list of artists is the old one until then.
            bottle.response.set_header("HX-Refresh", "true")
        return render("_sync_status.html", sync=sync, me=user, next_refresh_at=_next_refresh(user))

    @app.get("/loading")
    @login_required(otherwise=sign_in_first)
    def loading(user: User) -> str | bottle.HTTPResponse:
        state = sync_view(user)
        target = request_context.safe_next(bottle.request.query.get("next"))
        if not state["active"] and user.last_synced_at is not None:
            if request_context.is_htmx():
                bottle.response.set_header("HX-Redirect", target)
                return ""
            return see_other(target)
        poll_url = f"/loading?next={quote(target)}"
        if request_context.is_htmx():
            return render("_sync_status.html", sync=state, me=user, poll_url=poll_url)
        return render("loading.html", sync=state, me=user, next=target)

    @app.post("/refresh")
    @login_required(otherwise=sign_in_first)
    def refresh(user: User) -> str | bottle.HTTPResponse:
        wait_until = _next_refresh(user)
        if wait_until is None:
            services.request_sync(user, force=True)
        elif not request_context.is_htmx():
            bottle.response.set_header(
                "Retry-After", str(request_context.settings().refresh_cooldown_seconds)
            )
            return page_error(
                429,
                "Your library was loaded a moment ago. The next refresh is possible at "
                f"{wait_until.strftime('%H:%M UTC')}.",
                title="Not yet",
            )
        if request_context.is_htmx():
            # 200 either way: htmx swaps in the fragment, which says when the next may be.
            return render(
                "_sync_status.html",
                sync=sync_view(user),
                me=user,
                next_refresh_at=_next_refresh(user),
            )
        return see_other("/")

    @app.post("/friend-code")
    @login_required(otherwise=sign_in_first)
    def new_friend_code(user: User) -> bottle.HTTPResponse:
        # The old code stops working at once, and so does the sight of everyone let in
        # through it whom the person did not keep.
        old_code = user.friend_code
        user.regenerate_friend_code()
        ComparedWith.end_code(user, old_code)
        return see_other("/")

    @app.post("/account/delete")
    @login_required(otherwise=not_signed_in_page("You are not signed in."))
    def delete_account(user: User) -> str:
        delete_account_of(user)
        forget_person(services.redis_ref, user.id)
        request_context.session().clear()
        bottle.request.environ["overlap.user"] = None
        return render("deleted.html")
