"""The signed-in person's own pages: home, the first-sync loading page, refresh, delete."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import bottle

from jobs import queueing
from models import JobRun, User, current_month
from models.library import SORTS, library_page
from sync.users import user_subject
from web import context
from web.context import page_error, render, see_other
from web.spotify_pause import counts_resume_at

PAGE_SIZE = 50
# A request still unsent after this long waits for Redis; a younger one may be on its way.
DELAYED_AFTER = dt.timedelta(seconds=2)


def sync_state(user: User) -> dict:
    """The user's latest sync as pages and the JSON API show it.

    ``delayed``: the sync waits for the job queue (Redis is away) and goes on by itself
    when it is back; known at once when this request's own send failed.
    """
    job = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    if job is None:
        return {
            "status": "never",
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
        "error": job.error if job.status == "failed" else None,
        "delayed": job.waits_for_queue(grace),
    }


def mount(app: bottle.Bottle) -> None:
    """Add the home routes to ``app``."""

    @app.get("/")
    def home() -> str:
        user = context.current_user()
        if user is None:
            return render("landing.html")
        query = bottle.request.query
        sort = query.get("sort") or "name"
        raw_page = query.get("page")
        page = context.whole_number(raw_page, 8) if raw_page else 1
        if sort not in SORTS or page is None or page < 1:
            return page_error(400, "That page of your artists does not exist.")
        total, artists = library_page(
            user.id, current_month(), sort=sort, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        link = f"{bottle.request.urlparts.scheme}://{bottle.request.urlparts.netloc}"
        pending = any(not a.has_row for a in artists)
        return render(
            "home.html",
            me=user,
            sync=sync_state(user),
            counts=user.artist_counts(),
            artists=artists,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            sort=sort,
            share_link=f"{link}/compare/{user.friend_code}",
            counts_resume_at=counts_resume_at() if pending else None,
        )

    @app.get("/sync-status")
    def sync_status() -> str:
        user = context.current_user()
        if user is None:
            return page_error(401, "Sign in to see your sync.")
        return render("_sync_status.html", sync=sync_state(user), me=user)

    @app.get("/loading")
    def loading() -> str | bottle.HTTPResponse:
        user = context.current_user()
        if user is None:
            return see_other("/login")
        state = sync_state(user)
        target = context.safe_next(bottle.request.query.get("next"))
        active = state["status"] in ("queued", "running", "retrying")
        if not active and user.last_synced_at is not None:
            if context.is_htmx():
                bottle.response.set_header("HX-Redirect", target)
                return ""
            return see_other(target)
        poll_url = f"/loading?next={quote(target)}"
        if context.is_htmx():
            return render("_sync_status.html", sync=state, me=user, poll_url=poll_url)
        return render("loading.html", sync=state, me=user, next=target)

    @app.post("/refresh")
    def refresh() -> str | bottle.HTTPResponse:
        user = context.current_user()
        if user is None:
            return see_other("/login")
        app.config["overlap.sync"](user, force=True)
        if context.is_htmx():
            return render("_sync_status.html", sync=sync_state(user), me=user)
        return see_other("/")

    @app.post("/account/delete")
    def delete_account() -> str:
        user = context.current_user()
        if user is None:
            return page_error(401, "You are not signed in.")
        JobRun.delete().where(JobRun.subject == user_subject(user.id)).execute()
        User.delete().where(User.id == user.id).execute()
        context.session().clear()
        bottle.request.environ["overlap.user"] = None
        return render("deleted.html")
