"""Signing out ends the session for good: a copy of the cookie kept from before no longer
signs in, and "sign out everywhere" ends every session of the person."""

from __future__ import annotations

import webtest

from models import User
from web.http.session import COOKIE


def me(web, cookie: str) -> int:
    """The status of ``/api/me`` with only ``cookie``."""
    web.reset()
    web.set_cookie(COOKIE, cookie)
    return web.get("/api/me", status="*").status_int


def test_a_cookie_kept_from_before_sign_out_no_longer_signs_in(web, signed_in_web, csrf_of):
    signed_in_web("ben")
    token = csrf_of(web.get("/"))
    kept = web.cookies[COOKIE]

    web.post("/logout", {"csrf_token": token}, status=303)

    assert me(web, kept) == 401


def test_sign_out_everywhere_ends_the_sessions_of_other_browsers(
    web, signed_in_web, demo_spotify, csrf_of
):
    signed_in_web("ben")
    laptop = web.cookies[COOKIE]
    web.reset()
    signed_in_web("ben")
    token = csrf_of(web.get("/"))

    web.post("/logout-everywhere", {"csrf_token": token}, status=303)

    assert me(web, laptop) == 401
    assert User.get(User.spotify_id == "ben").session_version == 1


def test_signing_in_again_after_sign_out_works_and_others_stay_signed_in(
    web, signed_in_web, csrf_of
):
    signed_in_web("cleo")
    cleos = web.cookies[COOKIE]
    web.reset()
    signed_in_web("ben")
    web.post("/logout", {"csrf_token": csrf_of(web.get("/"))}, status=303)

    signed_in_web("ben")

    assert web.get("/api/me").json["spotify_id"] == "ben"
    other = webtest.TestApp(web.app)
    other.set_cookie(COOKIE, cleos)
    assert other.get("/api/me").json["spotify_id"] == "cleo"
