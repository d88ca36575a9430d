"""The demo accounts service over real HTTP: the consent page, codes, tokens, revocation."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify
from spotify_demo.server import start_in_thread

CALLBACK = "http://127.0.0.1:8000/callback"


def authorize(demo: DemoSpotify, **overrides: str) -> requests.Response:
    """Open the consent page with the app's usual query, changed by ``overrides``."""
    params = {
        "client_id": demo.config.client_id,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "state": "s-123",
        "scope": "user-follow-read user-library-read",
        "show_dialog": "true",
        **overrides,
    }
    return demo.http.get(f"{demo.accounts_url}/authorize", params=params, timeout=10)


def exchange(demo: DemoSpotify, **form: str) -> requests.Response:
    """POST to the token endpoint, authenticating the client with HTTP Basic."""
    return demo.http.post(
        f"{demo.accounts_url}/api/token",
        data=form,
        auth=(demo.config.client_id, demo.config.client_secret),
        timeout=10,
    )


def query_of(url: str) -> dict[str, str]:
    """A URL's query as a plain dict."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_consent_page_offers_every_demo_user(demo_spotify: DemoSpotify) -> None:
    page = authorize(demo_spotify)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    for user in demo_spotify.catalog.users.values():
        assert user.display_name in page.text
    assert "demo Spotify" in page.text


def test_the_consent_page_escapes_what_it_echoes(demo_spotify: DemoSpotify) -> None:
    page = authorize(demo_spotify, state='"><script>alert(1)</script>')
    assert "<script>" not in page.text


def test_choosing_a_user_returns_to_the_app_with_a_code_and_the_state(
    demo_spotify: DemoSpotify,
) -> None:
    page = authorize(demo_spotify)
    links = [html.unescape(h) for h in re.findall(r'class="button" href="([^"]*)"', page.text)]
    assert len(links) == len(demo_spotify.catalog.users)
    # Follow the link as a browser would: relative to the page's own URL.
    response = demo_spotify.http.get(urljoin(page.url, links[0]), allow_redirects=False)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    assert query_of(location)["state"] == "s-123" and query_of(location)["code"]


def test_a_state_with_any_characters_comes_back_unchanged(demo_spotify: DemoSpotify) -> None:
    state = "état & <ünïcode> 日本"
    code_url = demo_spotify.http.get(
        f"{demo_spotify.accounts_url}/authorize/approve",
        params={
            "user_id": "emma",
            "client_id": demo_spotify.config.client_id,
            "redirect_uri": CALLBACK,
            "state": state,
        },
        allow_redirects=False,
    ).headers["Location"]
    assert query_of(code_url)["state"] == state


def test_cancel_returns_access_denied_with_the_state(demo_spotify: DemoSpotify) -> None:
    page = authorize(demo_spotify)
    cancel = page.text.split('<a href="', 2)[-1].split('">Cancel', 1)[0].replace("&amp;", "&")
    assert query_of(cancel) == {"error": "access_denied", "state": "s-123"}
    assert cancel.startswith(CALLBACK)


def test_an_unknown_client_or_a_missing_redirect_uri_is_a_400_page(
    demo_spotify: DemoSpotify,
) -> None:
    unknown = authorize(demo_spotify, client_id="someone-else")
    assert unknown.status_code == 400 and "Invalid client" in unknown.text
    missing = authorize(demo_spotify, redirect_uri="")
    assert missing.status_code == 400 and "Invalid redirect URI" in missing.text


def test_a_code_gives_tokens_once_only(demo_spotify: DemoSpotify) -> None:
    code = demo_spotify.code_for("ben", CALLBACK, scope="user-follow-read")
    first = exchange(
        demo_spotify, grant_type="authorization_code", code=code, redirect_uri=CALLBACK
    )
    assert first.status_code == 200
    tokens = first.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", 3600)
    assert tokens["scope"] == "user-follow-read"
    me = demo_spotify.http.get(
        f"{demo_spotify.api_url}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["id"] == "ben"

    replay = exchange(
        demo_spotify, grant_type="authorization_code", code=code, redirect_uri=CALLBACK
    )
    assert replay.status_code == 400
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid authorization code",
    }


def test_a_code_needs_the_redirect_uri_it_was_issued_for(demo_spotify: DemoSpotify) -> None:
    code = demo_spotify.code_for("ana", CALLBACK)
    response = exchange(
        demo_spotify,
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://evil.example/cb",
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_the_client_may_authenticate_with_form_fields(demo_spotify: DemoSpotify) -> None:
    code = demo_spotify.code_for("cleo", CALLBACK)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": demo_spotify.config.client_id,
        "client_secret": demo_spotify.config.client_secret,
    }
    response = demo_spotify.http.post(f"{demo_spotify.accounts_url}/api/token", data=form)
    assert response.status_code == 200


def test_a_wrong_client_secret_is_invalid_client(demo_spotify: DemoSpotify) -> None:
    response = demo_spotify.http.post(
        f"{demo_spotify.accounts_url}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(demo_spotify.config.client_id, "wrong"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_refresh_token_gives_a_new_access_token(demo_spotify: DemoSpotify) -> None:
    refresh = demo_spotify.refresh_token_for("dmitri")
    response = exchange(demo_spotify, grant_type="refresh_token", refresh_token=refresh)
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = demo_spotify.http.get(
        f"{demo_spotify.api_url}/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert me.json()["id"] == "dmitri"


def test_a_revoked_refresh_token_is_refused_until_the_user_signs_in_again(
    demo_spotify: DemoSpotify,
) -> None:
    old = demo_spotify.refresh_token_for("ben")
    demo_spotify.revoke("ben")
    refused = exchange(demo_spotify, grant_type="refresh_token", refresh_token=old)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "Refresh token revoked",
    }

    code = demo_spotify.code_for("ben", CALLBACK)
    fresh = exchange(
        demo_spotify, grant_type="authorization_code", code=code, redirect_uri=CALLBACK
    ).json()["refresh_token"]
    assert exchange(demo_spotify, grant_type="refresh_token", refresh_token=fresh).ok


def test_a_garbled_refresh_token_is_invalid_grant(demo_spotify: DemoSpotify) -> None:
    response = exchange(demo_spotify, grant_type="refresh_token", refresh_token="rt_nope.sig")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_unknown_grant_type_is_refused(demo_spotify: DemoSpotify) -> None:
    response = exchange(demo_spotify, grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_tokens_survive_a_restart_of_the_demo(demo_spotify: DemoSpotify) -> None:
    token = demo_spotify.token_for("cleo")
    restarted_url, stop = start_in_thread(DemoConfig(), catalog=demo_spotify.catalog)
    try:
        me = requests.get(
            f"{restarted_url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    finally:
        stop()
    assert me.status_code == 200 and me.json()["id"] == "cleo"
