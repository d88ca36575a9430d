"""Absolute links come from BASE_URL, never from the request's Host; the session cookie
is Secure outside demo mode whatever the request says about its scheme."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import webtest

from config.settings import Settings, SettingsError
from web.app import create_app


@pytest.fixture
def app_with(app_settings, broker, db):
    """A WebTest app of the test settings with some changed."""

    def app_with(**changes: object) -> webtest.TestApp:
        settings = app_settings.but(redis_namespace=broker.namespace, **changes)
        return webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})

    return app_with


def session_cookie_of(answer) -> str:
    return next(v for k, v in answer.headerlist if k == "Set-Cookie" and "overlap_session" in v)


def test_the_share_link_is_on_base_url_whatever_host_the_request_names(
    app_with, demo_spotify, sign_in
):
    web = app_with(base_url="http://overlap.example")
    cleo = sign_in("cleo")

    query = parse_qs(urlsplit(web.get("/login").headers["Location"]).query)
    code = demo_spotify.code_for("cleo", query["redirect_uri"][0], state=query["state"][0])
    web.get("/callback", params={"code": code, "state": query["state"][0]})

    cookie = f"overlap_session={web.cookies['overlap_session']}"
    web.reset()  # the cookie goes by hand: the jar would not send it to another Host
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Cookie": cookie}
    home = web.get("/", headers=forged)

    assert f"http://overlap.example/compare/{cleo.friend_code}" in home.text
    assert "evil.example" not in home.text


def test_the_session_cookie_is_secure_outside_demo_mode_even_over_plain_http(app_with):
    answer = app_with(demo=False).get("/login")

    assert "secure" in session_cookie_of(answer).lower()


def test_in_demo_mode_the_cookie_is_secure_when_base_url_is_https(app_with):
    answer = app_with(base_url="https://x.example").get("/login")

    assert "secure" in session_cookie_of(answer).lower()


def test_a_client_cannot_make_the_demo_cookie_secure_or_not_by_a_header(app_with):
    answer = app_with().get("/login", headers={"X-Forwarded-Proto": "https"})

    assert "secure" not in session_cookie_of(answer).lower()


def test_base_url_defaults_to_the_redirect_uris_origin_and_refuses_other_schemes(tmp_path):
    env = {"SECRET_KEY": "k" * 40, "OVERLAP_VAR_DIR": str(tmp_path)}
    redirect = {"SPOTIFY_REDIRECT_URI": "https://overlap.example/callback"}
    assert Settings.from_env({**env, **redirect}, read_dotenv=False).base_url == (
        "https://overlap.example"
    )
    with_base = {**env, "BASE_URL": "https://share.example/"}
    assert Settings.from_env(with_base, read_dotenv=False).base_url == "https://share.example"
    with pytest.raises(SettingsError, match="BASE_URL"):
        Settings.from_env({**env, "BASE_URL": "javascript:alert(1)"}, read_dotenv=False)
