"""Sign-in and sessions under attack: forged and replayed OAuth callbacks, POSTs without the
right CSRF token, and tampered, foreign, garbage, oversized or stale session cookies. Each
is a signed-out visitor, a 403 or a clear sentence: never a 500, never someone else.

(The plain cases live with the features: a wrong or missing state, refusing at Spotify and
a replayed code in test_sign_in.py, the dashboard for non-admins in test_admin.py.)"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import itsdangerous
import pytest

from models import JobRun, User
from web.http.session import COOKIE, MAX_AGE_S, SessionStore

SIGNED_OUT = "Sign in with Spotify"


def login_state(web) -> tuple[str, str]:
    """Start a sign-in: (the state it sent to Spotify, the redirect URI)."""
    query = parse_qs(urlsplit(web.get("/login").headers["Location"]).query)
    return query["state"][0], query["redirect_uri"][0]


def signed_in_as(web, cookie: str | None = None) -> str | None:
    """Whose session this is, by ``/api/me`` (with ``cookie`` as the only cookie, if given)."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
    if cookie is not None:
        web.reset()
    me = web.get("/api/me", headers=headers, expect_errors=True)
    assert me.status_int in (200, 401), me.status
    return me.json.get("spotify_id") if me.status_int == 200 else None


def test_a_made_up_oversized_or_foreign_code_with_the_right_state_signs_nobody_in(
    web, demo_spotify
):
    for code in ("garbage", "<script>alert(1)</script>", "x" * 5000, "for-another-redirect"):
        state, redirect_uri = login_state(web)
        if code == "for-another-redirect":
            code = demo_spotify.code_for("cleo", redirect_uri + "/elsewhere", state=state)

        answer = web.get("/callback", params={"code": code, "state": state}, expect_errors=True)

        assert answer.status_int == 400, (code[:20], answer.status)
        assert "sign in again" in answer.text and "<script>alert" not in answer.text
    assert User.select().count() == 0
    assert signed_in_as(web) is None


def test_an_error_from_spotify_with_a_forged_or_no_state_signs_nobody_in(web):
    for params in (
        {"error": "access_denied"},
        {"error": "access_denied", "state": "forged"},
        {"error": "<script>alert(1)</script>", "state": "", "code": "x"},
    ):
        answer = web.get("/callback", params=params, expect_errors=True)
        assert answer.status_int == 400
        assert "not signed in" in answer.text and "<script>alert" not in answer.text
    assert User.select().count() == 0


def test_a_state_is_good_for_one_sign_in_only(web, demo_spotify):
    state, redirect_uri = login_state(web)
    first = demo_spotify.code_for("cleo", redirect_uri, state=state)
    web.get("/callback", params={"code": first, "state": state})
    web.reset()  # a new visitor who got hold of the old state and a code of their own
    second = demo_spotify.code_for("ben", redirect_uri, state=state)

    answer = web.get("/callback", params={"code": second, "state": state}, expect_errors=True)

    assert answer.status_int == 400 and "Please sign in again" in answer.text
    assert not User.select().where(User.spotify_id == "ben").exists()
    assert signed_in_as(web) is None


def test_a_forged_callback_never_swaps_the_signed_in_person_for_another(
    web, signed_in_web, demo_spotify
):
    signed_in_web("cleo")
    state, redirect_uri = login_state(web)  # Cléo starts signing in again...
    # ...and an attacker's page makes her browser bring back the attacker's code.
    code = demo_spotify.code_for("ben", redirect_uri, state="the attacker's own state")

    answer = web.get(
        "/callback", params={"code": code, "state": "the attacker's own state"}, expect_errors=True
    )

    assert answer.status_int == 400
    assert not User.select().where(User.spotify_id == "ben").exists()
    assert signed_in_as(web) in (None, "cleo")


def test_every_post_without_this_sessions_token_is_refused_and_changes_nothing(
    web, signed_in_web, state, csrf_of
):
    import webtest

    signed_in_web("emma")  # the demo's admin: every action is hers to take
    job, _ = JobRun.open(message_id="m-q", actor="update_user", args=[1], subject="user:1",
                         queue="interactive")  # fmt: skip
    JobRun.open(message_id="m-f", actor="update_user", args=[2], subject="user:2",
                queue="interactive", status="failed")  # fmt: skip
    ben = User.sign_in("ben", "Ben", {})
    elsewhere = webtest.TestApp(web.app)  # another visitor of the same app
    foreign_token = csrf_of(elsewhere.get("/"))  # a real token, of another session
    posts = [
        ("/logout", {}),
        ("/refresh", {}),
        ("/compare", {"friend_code": ben.friend_code}),
        ("/account/delete", {}),
        (f"/api/jobs/{job.id}/cancel", {}),
        (f"/admin/jobs/{job.id}/cancel", {}),
        (f"/admin/jobs/{job.id}/retry", {}),
        ("/admin/jobs/cancel-active", {}),
        ("/admin/jobs/retry-failed", {}),
        ("/admin/jobs/clean", {"days": "1"}),
        ("/admin/queues/bulk/pause", {}),
    ]
    before = state()

    for path, form in posts:
        for token in (None, "", "wrong", foreign_token, f"{csrf_of(web.get('/'))}x"):
            body = form if token is None else {**form, "csrf_token": token}
            for headers in ({}, {"X-CSRF-Token": token or ""}, {"HX-Request": "true"}):
                answer = web.post(path, body, headers=headers, expect_errors=True)
                assert answer.status_int == 403, (path, token, headers, answer.status)
                assert "expired" in answer.text or "CSRF" in answer.text

    assert state() == before
    assert signed_in_as(web) == "emma"


@pytest.fixture
def cookies(web, signed_in_web) -> dict[str, str]:
    """Real session cookies of Emma (the admin) and Cléo, as the sign-in set them."""
    values = {}
    for spotify_id in ("emma", "cleo"):
        web.reset()
        signed_in_web(spotify_id)
        values[spotify_id] = web.cookies[COOKIE]
    web.reset()
    return values


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def _tampered(cookies: dict[str, str], app_settings, monkeypatch) -> dict[str, str]:
    emma, cleo = cookies["emma"], cookies["cleo"]
    payload, stamp, signature = emma.rsplit(".", 2)
    uid = User.get(User.spotify_id == "emma").id
    mine = SessionStore(app_settings.secret_key).serializer
    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed.time, "time", lambda: 1_700_000_000 - MAX_AGE_S)
        expired = mine.dumps({"uid": uid, "csrf": "x"})
    return {
        "a flipped signature byte": _flip(emma, len(emma) - len(signature) // 2),
        "a flipped payload byte": _flip(emma, len(payload) // 2),
        "Emma's uid under Cléo's signature": f"{payload}.{cleo.rsplit('.', 2)[1]}."
        + cleo.rsplit(".", 2)[2],
        "Emma's session signed with another key": SessionStore("another-key").serializer.dumps(
            {"uid": uid, "csrf": "x"}
        ),
        "Emma's session, expired": expired,
        "no signature at all": payload,
        "unsigned JSON": f'{{"uid": {uid}}}',
        "garbage": "garbage",
        "dots": "...",
        "quotes": '"\\"',
        "non-ASCII": "Zoë.ünïcode.ß",
        "percent-encoded": "%00%0d%0a",
        "oversized": emma + "A" * 5000,
        "empty": "",
    }


def test_a_tampered_foreign_garbage_oversized_or_stale_cookie_is_a_signed_out_visitor(
    web, cookies, app_settings, monkeypatch, state
):
    assert signed_in_as(web, cookies["emma"]) == "emma"  # the real one works
    before = state()

    for what, value in _tampered(cookies, app_settings, monkeypatch).items():
        web.reset()
        sent = {"Cookie": f"{COOKIE}={value}"}
        assert signed_in_as(web, value) is None, what
        home = web.get("/", headers=sent)
        assert SIGNED_OUT in home.text, what
        admin = web.get("/admin", headers=sent)
        assert admin.status_int == 303 and "/login" in admin.headers["Location"], what
        post = web.post("/refresh", {"csrf_token": "x"}, headers=sent, expect_errors=True)
        assert post.status_int == 403, what
        for path in ("/loading", "/compare/ZZZZZZZZZZ", "/api/jobs/1", "/sync-status"):
            answer = web.get(path, headers=sent, expect_errors=True)
            assert answer.status_int < 500 and answer.status_int != 200, (what, path)

    assert state() == before


def test_a_deleted_persons_old_cookie_never_signs_in_whoever_comes_next(
    web, signed_in_web, csrf_of
):
    signed_in_web("cleo")
    old = web.cookies[COOKIE]
    web.post("/account/delete", {"csrf_token": csrf_of(web.get("/"))})
    web.reset()
    signed_in_web("ben")  # may be given Cléo's old id (SQLite reuses the highest rowid)

    assert signed_in_as(web, old) is None
