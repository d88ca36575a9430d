"""A Development Mode Spotify app and a person not on its user list: Spotify lets them
through its consent page and then refuses every Web API call with a 403. They get a page
saying what happened and what to do, no account is made, and the operator sees the refused
sign-in on /admin beside "N of 5 people"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import webtest

from models import User


def sign_in_refused(web, demo_spotify, spotify_id: str):
    """The real OAuth flow through /callback, for someone Spotify is going to refuse."""
    login = web.get("/login")
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    code = demo_spotify.code_for(spotify_id, query["redirect_uri"][0], state=query["state"][0])
    params = {"code": code, "state": query["state"][0]}
    return web.get("/callback", params=params, expect_errors=True)


def test_someone_not_on_the_list_is_told_what_to_do_and_no_account_is_kept(web, demo_spotify):
    demo_spotify.set_faults(registered_users="emma")

    answer = sign_in_refused(web, demo_spotify, "cleo")

    assert answer.status_int == 403
    assert "You are not on this overlap's list yet" in answer.text
    assert "ask the person who runs this overlap to add the e-mail address" in answer.text
    assert "Spotify developer dashboard" in answer.text
    assert User.select().count() == 0
    assert "Sign in with Spotify" in web.get("/").text  # signed out


def test_the_operator_sees_refused_sign_ins_and_how_many_places_are_taken(
    web, signed_in_web, demo_spotify
):
    demo_spotify.set_faults(registered_users="emma")
    sign_in_refused(web, demo_spotify, "cleo")

    signed_in_web("emma")  # on the list, and the demo's admin
    page = web.get("/admin")

    assert "1 of 5 people" in page.text
    assert "Sign-ins Spotify refused" in page.text
    assert "Spotify does not say who was refused" in page.text
    assert '<td><code>127.0.0.1</code></td><td class="num">1</td>' in page.text  # by address


def test_the_landing_page_says_a_development_mode_overlap_is_private(web):
    assert "This overlap is private" in web.get("/").text


def test_with_extended_quota_there_is_no_cap_and_no_private_note(
    app_settings, broker, db, demo_spotify
):
    from web.app import create_app

    settings = app_settings.but(redis_namespace=broker.namespace, spotify_app_mode="extended")
    web = webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})

    assert "This overlap is private" not in web.get("/").text
    sign_in_refused(web, demo_spotify, "emma")  # everyone may sign in; emma is the admin
    assert "of 5 people" not in web.get("/admin").text
