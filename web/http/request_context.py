"""What every route needs from its request: the services, the session, the signed-in user,
and the answers (a page, JSON, a redirect).

Routes call these helpers instead of reaching into Bottle's globals themselves.
"""

from __future__ import annotations

import json
from typing import Any

import bottle

from config import logs
from config.settings import Settings
from models import User
from web.http import services as app_services
from web.http.headers import header
from web.http.services import Services
from web.http.session import Session


def services() -> Services:
    """The services ``create_app`` made for this request's app."""
    return app_services.of(bottle.request.app)


def settings() -> Settings:
    """The app's settings."""
    return services().settings


def session() -> Session:
    """The request's session (an empty one on error pages, which run outside the plugin)."""
    return bottle.request.environ.setdefault("overlap.session", Session())


def current_user() -> User | None:
    """The signed-in user, or None."""
    environ = bottle.request.environ
    if "overlap.user" not in environ:
        uid = session().get("uid")
        user = User.get_or_none(User.id == uid) if uid else None
        # A session names its person's Spotify id too, so a cookie can only ever sign in the
        # person it was made for. (Sessions made before this carry no Spotify id.)
        if user is not None and session().get("spotify_id", user.spotify_id) != user.spotify_id:
            user = None
        # Signing out raises the person's session version: a cookie made under an older
        # one (a copy kept after sign-out, another device) is signed out.
        if user is not None and session().get("sv", 0) != user.session_version:
            user = None
        environ["overlap.user"] = user
        if user is not None:
            logs.bind(user_id=user.id)
    return environ["overlap.user"]


def is_admin(user: User | None = None) -> bool:
    """Whether ``user`` (by default the signed-in one) may run the operations dashboard."""
    user = user if user is not None else current_user()
    return user is not None and user.spotify_id in settings().admin_spotify_ids


# The largest id a row can have in either database: an id column is a 32-bit serial on
# PostgreSQL (64 bits on SQLite), so a larger number names no row, and is never sent.
MAX_ROW_ID = 2**31 - 1


def whole_number(raw: str | None, max_digits: int) -> int | None:
    """``raw`` as a number when it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` alone is not enough: it accepts digits such as "²" that ``int`` refuses,
    and ``int`` alone accepts "１", "-1", "+1" and " 1".
    """
    if raw and len(raw) <= max_digits and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def row_id(raw: str | None) -> int | None:
    """The id ``raw`` names in a path, form or query: 1 to ``MAX_ROW_ID`` in ASCII digits,
    else None. Every id the web reads goes through this (a group's member numbers too)."""
    number = whole_number(raw, len(str(MAX_ROW_ID)))
    return number if number is not None and 1 <= number <= MAX_ROW_ID else None


def safe_next(target: str | None) -> str:
    """A same-site path to go on to, or "/": never another site, never a broken header."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        # Browsers read a backslash as a slash: "/\evil.example" is another site.
        and "\\" not in target
        and target.isprintable()
        and len(target) < 200
    ):
        return target
    return "/"


def client_address() -> str:
    """The request's client address: the peer, or what a trusted proxy says it saw."""
    return services().client_address.of(bottle.request.environ)


def is_htmx() -> bool:
    """Whether htmx asked for a fragment."""
    return header(bottle.request, "HX-Request") == "true"


def note_queue_refused() -> None:
    """Remember that the job queue (Redis) refused a sync this request asked for."""
    bottle.request.environ["overlap.queue_refused"] = True


def queue_refused() -> bool:
    """Whether the job queue refused a sync this request asked for."""
    return bool(bottle.request.environ.get("overlap.queue_refused"))


def render(name: str, status: int = 200, **values: Any) -> str:
    """A template rendered with the values every page needs."""
    bottle.response.status = status
    bottle.response.set_header("Vary", "HX-Request, Cookie")
    user = current_user()
    return services().render(
        name, csrf_token=session().csrf_token, user=user, is_admin=is_admin(user), **values
    )


def page_error(status: int, message: str, title: str = "Something is not right") -> str:
    """A page (or fragment) that says what went wrong in one sentence."""
    return render("error.html", status=status, title=title, message=message)


def as_json(data: Any, status: int = 200) -> str:
    """A JSON answer."""
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    bottle.response.set_header("Cache-Control", "no-store")
    # The names in it are Spotify's, HTML and all: never let a browser read it as a page.
    bottle.response.set_header("X-Content-Type-Options", "nosniff")
    return json.dumps(data, default=str)


def see_other(location: str) -> bottle.HTTPResponse:
    """A 303 redirect (after a POST, or to the sign-in page)."""
    response = bottle.HTTPResponse(status=303)
    response.set_header("Location", location)
    return response
