"""Signing in with Spotify (authorization code flow, ``state`` checked) and out."""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any
from urllib.parse import quote

import bottle
import redis

from models import User
from models.db import utcnow
from spotify.client import profile_image
from spotify.errors import (
    BudgetSpent,
    NeedsReauth,
    NotRegistered,
    RateLimited,
    SignInBusy,
    SpotifyError,
)
from spotify.oauth import TokenInfo, authorize_url
from spotify.sign_in import SignInCalls
from web.http import request_context
from web.http.auth_guard import login_required, sign_in_first
from web.http.client_address import address_group
from web.http.request_context import page_error, render, safe_next, see_other
from web.http.services import Services
from web.http.session import Session
from web.state import refused_sign_ins

logger = logging.getLogger(__name__)


def _address() -> str:
    """What the per-address counts of sign-in key on: the client's address (or /64)."""
    return address_group(request_context.client_address())


def _note_refused_sign_in() -> None:
    """Keep the refused sign-in for /admin; Redis being away only loses the note."""
    ref = request_context.services().redis_ref
    if ref is None:
        return
    try:
        refused_sign_ins.record(ref, _address())
    except redis.RedisError as error:
        logger.warning("could not note a refused sign-in: %s", error)


def _too_many(step: str) -> str | None:
    """The 429 page when this address made too many sign-in ``step``s lately, else None."""
    wait = request_context.services().sign_in_limit.wait_for(step, _address())
    if not wait:
        return None
    return _try_again_page(
        429,
        wait,
        "Too many sign-ins came from your address in the last minute. Please try again "
        f"in {wait} seconds.",
        "Too many sign-ins",
    )


def _try_again_page(status: int, seconds: float, message: str, title: str) -> str:
    """A page saying to try again, with ``Retry-After`` in whole seconds."""
    bottle.response.set_header("Retry-After", str(max(1, math.ceil(seconds))))
    return page_error(status, message, title=title)


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the sign-in routes to ``app``."""

    @app.get("/login")
    def login() -> str | bottle.HTTPResponse:
        if (refused := _too_many("login")) is not None:
            return refused
        session = request_context.session()
        state = secrets.token_urlsafe(24)
        session["oauth_state"] = state
        session["next"] = safe_next(bottle.request.query.get("next"))
        return see_other(authorize_url(request_context.settings(), state))

    @app.get("/callback")
    def callback() -> str | bottle.HTTPResponse:
        if (refused := _too_many("callback")) is not None:
            return refused
        session = request_context.session()
        query = bottle.request.query
        refused = _callback_refused(query, session.pop("oauth_state", None))
        if refused is not None:
            return refused
        signed_in = _spotify_profile(services.sign_in_calls, query.get("code", ""))
        if not isinstance(signed_in, tuple):
            return signed_in
        token, profile = signed_in
        known = User.get_or_none(User.spotify_id == profile["id"])
        # Someone whose refresh token Spotify refused gets a sync now, however recent the last.
        signing_in_again = known is not None and known.needs_reauth
        user = User.sign_in(
            profile["id"],
            profile.get("display_name"),
            token.as_dict(),
            image_url=profile_image(profile),
        )
        target = safe_next(session.get("next"))
        _start_session(session, user)
        # Signing in asks for a sync of a stale library (the design: pages fill in as jobs land).
        job = services.request_sync(user, force=signing_in_again)
        # Only the home page waits on the first sync: a friend's link (its "Compare with
        # Ana" page) and a comparison fill in while the library loads, and a generic
        # loading page in front of them would only keep the friend from the button.
        if user.last_synced_at is None and job is not None and target == "/":
            return see_other(f"/loading?next={quote(target)}")
        return see_other(target)

    @app.post("/logout")
    def logout() -> bottle.HTTPResponse:
        # Clearing the cookie is not enough: a copy of it would still sign in for 30 days.
        # Raising the version ends it, and every other session of the person with it.
        user = request_context.current_user()
        if user is not None:
            user.end_sessions()
        request_context.session().clear()
        return see_other("/")

    @app.post("/logout-everywhere")
    @login_required(otherwise=sign_in_first)
    def logout_everywhere(user: User) -> bottle.HTTPResponse:
        user.end_sessions()
        request_context.session().clear()
        return see_other("/")


def _callback_refused(query: bottle.FormsDict, expected: object) -> str | None:
    """The page refusing a callback that did not come from a sign-in begun here, else None."""
    if query.get("error"):
        return page_error(
            400,
            "You did not allow overlap to read your Spotify library, so you are not "
            "signed in. You can try again whenever you like.",
            title="Not signed in",
        )
    # As bytes: compare_digest refuses a str with non-ASCII characters (a 500).
    given = query.get("state", "").encode("utf-8", "surrogateescape")
    if not expected or not secrets.compare_digest(given, str(expected).encode()):
        return page_error(
            400,
            "This sign-in link is out of date or was not started here. Please sign in again.",
            title="Sign-in expired",
        )
    code = query.get("code", "")
    if not code or len(code) > 2048:
        return page_error(400, "Spotify sent no sign-in code. Please sign in again.")
    return None


def _spotify_profile(calls: SignInCalls, code: str) -> tuple[TokenInfo, dict[str, Any]] | str:
    """The token and profile Spotify gives for ``code``, or the page saying why not."""
    try:
        return calls.profile_for(code)
    except (SignInBusy, redis.RedisError):
        # Already as many sign-ins talking to Spotify as this process allows (or Redis went
        # away mid-way): no thread waits for a turn.
        return _try_again_page(
            503,
            5,
            "Many people are signing in right now. Please try again in a few seconds.",
            "Sign-in is busy",
        )
    except BudgetSpent as exc:
        return _try_again_page(
            503,
            exc.retry_after,
            "overlap has used the Spotify requests it may make today. Sign-in opens again "
            "at 00:00 UTC.",
            "Sign-in is closed for today",
        )
    except RateLimited as exc:
        return _try_again_page(
            503,
            exc.retry_after,
            "Spotify asked overlap to slow down. Please try again in a little while.",
            "Sign-in is busy",
        )
    except NotRegistered:
        # Through Spotify's consent page, then refused: a Development Mode app and someone
        # not on its user list. No account is made; the operator sees it on /admin and can
        # add them.
        _note_refused_sign_in()
        return render("not_registered.html", status=403)
    except NeedsReauth:
        return page_error(
            400,
            "This sign-in code was already used or has expired. Please sign in again.",
            title="Sign-in expired",
        )
    except SpotifyError as exc:
        logger.warning("sign-in failed: %s", exc)
        return page_error(
            502,
            "Spotify did not answer the sign-in. Please try again in a moment.",
            title="Spotify is not answering",
        )


def _start_session(session: Session, user: User) -> None:
    """A new session for ``user``: nothing of the signed-out one is kept."""
    session.clear()
    session["uid"] = user.id
    session["spotify_id"] = user.spotify_id
    session["sv"] = user.session_version
    session["signed_in_at"] = utcnow().isoformat()
