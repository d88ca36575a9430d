"""Signing in with Spotify: the state is checked, a first-time user waits on the loading
page while their library loads, and every refusal is a clear sentence, not an error page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from actors.testing import assert_enqueued_with
from models import User


def test_a_first_sign_in_creates_the_user_queues_a_sync_and_shows_the_loading_page(
    web, signed_in_web, broker
):
    response = signed_in_web("cleo")

    assert response.status_int == 303
    assert urlsplit(response.headers["Location"]).path == "/loading"
    user = User.get(User.spotify_id == "cleo")
    assert user.last_login_at is not None
    assert_enqueued_with(broker, "interactive", "update_user", [user.id])
    loading = response.follow()
    assert "Loading your Spotify library" in loading.text
    assert 'hx-trigger="every 2s"' in loading.text


def test_the_login_link_asks_spotify_for_read_only_scopes_and_a_state(web):
    response = web.get("/login")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["scope"] == ["user-follow-read user-library-read"]
    assert len(query["state"][0]) >= 20
    assert query["redirect_uri"][0].endswith("/callback")


def test_a_wrong_state_signs_nobody_in(web, demo_spotify):
    login = web.get("/login")
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    code = demo_spotify.code_for("cleo", query["redirect_uri"][0], state="forged")

    response = web.get("/callback", params={"code": code, "state": "forged"}, expect_errors=True)

    assert response.status_int == 400
    assert "Please sign in again" in response.text
    assert User.select().count() == 0
    assert "Sign in with Spotify" in web.get("/").text


def test_a_missing_state_signs_nobody_in(web):
    response = web.get("/callback", params={"code": "x"}, expect_errors=True)
    assert response.status_int == 400
    assert User.select().count() == 0


def test_refusing_at_spotify_says_so_plainly(web):
    login = web.get("/login")
    state = parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]
    response = web.get(
        "/callback", params={"error": "access_denied", "state": state}, expect_errors=True
    )
    assert response.status_int == 400
    assert "You did not allow overlap" in response.text
    assert User.select().count() == 0


def test_a_replayed_code_signs_nobody_in(web, demo_spotify):
    login = web.get("/login")
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    code = demo_spotify.code_for("cleo", query["redirect_uri"][0], state=query["state"][0])
    web.get("/callback", params={"code": code, "state": query["state"][0]})
    web.post("/logout", {"csrf_token": _csrf(web)})

    again = web.get("/login")
    state = parse_qs(urlsplit(again.headers["Location"]).query)["state"][0]
    response = web.get("/callback", params={"code": code, "state": state}, expect_errors=True)

    assert response.status_int == 400
    assert "already used" in response.text
    assert "Sign in with Spotify" in web.get("/").text


def test_the_session_cookie_is_signed_http_only_and_same_site_lax(web, signed_in_web):
    response = signed_in_web("cleo")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "access_token" not in cookie


def test_a_tampered_session_cookie_counts_as_signed_out(web, signed_in_web):
    signed_in_web("cleo")
    value = web.cookies["overlap_session"]
    web.set_cookie("overlap_session", value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB"))
    assert "Sign in with Spotify" in web.get("/").text


def test_signing_in_again_after_a_sync_goes_straight_home(web, signed_in_web):
    from models.db import utcnow

    signed_in_web("cleo")
    User.update(last_synced_at=utcnow()).execute()
    web.post("/logout", {"csrf_token": _csrf(web)})

    response = signed_in_web("cleo", next_path="/")

    assert response.headers["Location"].endswith("/")


def test_a_next_path_off_site_is_ignored(web, signed_in_web):
    from models.db import utcnow

    signed_in_web("cleo")
    User.update(last_synced_at=utcnow()).execute()
    web.post("/logout", {"csrf_token": _csrf(web)})
    response = signed_in_web("cleo", next_path="//evil.example/")
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost", "localhost:80")
    assert urlsplit(response.headers["Location"]).path == "/"


def _csrf(web) -> str:
    import re

    page = web.get("/")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
