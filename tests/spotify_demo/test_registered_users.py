"""A Development Mode app's user list in the demo: someone not on it gets through the
consent page and the token exchange, then a 403 from every Web API call, as on Spotify."""

from __future__ import annotations

import pytest

from spotify.client import SpotifyClient
from spotify.errors import NotRegistered
from spotify.oauth import exchange_code
from spotify_demo.api import NOT_REGISTERED
from spotify_demo.tokens import APP_USER

PATHS = ["/me", "/me/following?type=artist", "/me/tracks", "/me/albums"]


@pytest.mark.parametrize("path", PATHS)
def test_every_call_of_someone_not_on_the_list_is_refused_with_spotifys_403(demo_spotify, path):
    demo_spotify.set_faults(registered_users="ana, ben")
    headers = {"Authorization": f"Bearer {demo_spotify.token_for('cleo')}"}

    answer = demo_spotify.http.get(f"{demo_spotify.api_url}{path}", headers=headers, timeout=10)

    assert answer.status_code == 403
    assert answer.json() == {"error": {"status": 403, "message": NOT_REGISTERED}}


def test_people_on_the_list_and_the_apps_own_token_are_served(demo_spotify):
    demo_spotify.set_faults(registered_users="ana,ben")
    artist = demo_spotify.catalog.user("ben").followed[0]

    for token in (demo_spotify.token_for("ben"), demo_spotify.token_for(APP_USER, scope="")):
        answer = demo_spotify.http.get(
            f"{demo_spotify.api_url}/artists/{artist}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200


def test_the_client_reads_the_refusal_as_not_registered_after_a_good_sign_in(
    demo_spotify, app_settings
):
    demo_spotify.set_faults(registered_users="ana")
    code = demo_spotify.code_for("cleo", app_settings.spotify_redirect_uri)

    token = exchange_code(app_settings, code)  # consent and tokens work as usual
    with (
        pytest.raises(NotRegistered) as refused,
        SpotifyClient(app_settings, token.access_token) as client,
    ):
        client.me()

    assert refused.value.status == 403


def test_the_list_is_empty_by_default_and_can_be_changed_back(demo_spotify):
    assert demo_spotify.set_faults(registered_users="ana")["config"]["registered_users"] == "ana"
    demo_spotify.reset()
    headers = {"Authorization": f"Bearer {demo_spotify.token_for('cleo')}"}
    answer = demo_spotify.http.get(f"{demo_spotify.api_url}/me", headers=headers, timeout=10)
    assert answer.status_code == 200
