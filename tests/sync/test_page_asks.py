"""A page Spotify fails is asked for again a moment later, a few times, within one try of a
sync; a 429 is not (it pauses the host for everyone). Against the demo Spotify."""

from __future__ import annotations

from functools import partial

import pytest

from spotify.client import SpotifyClient
from spotify.errors import RateLimited, ServerError
from spotify_demo.harness import DemoSpotify
from sync.page_asks import ASKS_PER_PAGE, ask


@pytest.fixture
def client(demo_spotify: DemoSpotify, app_settings) -> SpotifyClient:
    """A client of Cléo with a valid token and no shared gate."""
    return SpotifyClient(app_settings, demo_spotify.token_for("cleo"))


def api_requests(demo_spotify: DemoSpotify) -> int:
    return demo_spotify.stats()["requests"]["api"]


def test_a_page_spotify_keeps_failing_is_asked_for_a_few_times_then_the_failure_is_raised(
    client, demo_spotify
):
    demo_spotify.set_faults(fault_rate=1.0)

    with pytest.raises(ServerError):
        ask(partial(client.saved_tracks_page, 0))

    assert api_requests(demo_spotify) == ASKS_PER_PAGE


def test_a_page_that_fails_once_in_a_while_comes_back_whole(client, demo_spotify):
    expected = client.saved_tracks_page(0)
    # Three answers in ten fail: asked once, 28 pages of 40 would come; asked three times,
    # a page is lost one time in 37 (more than five lost: odds of about 1 in 1,000).
    demo_spotify.set_faults(fault_rate=0.3)
    pages = 0
    for _ in range(40):
        try:
            page = ask(partial(client.saved_tracks_page, 0))
        except ServerError:
            continue
        pages += 1
        assert (page.total, page.items) == (expected.total, expected.items)

    assert pages >= 35
    assert demo_spotify.stats()["server_errors"] > 0


def test_a_429_is_not_asked_again_here(client, demo_spotify):
    demo_spotify.set_faults(rate_limit=1, rate_window_s=3600)
    client.saved_tracks_page(0)
    before = api_requests(demo_spotify)

    with pytest.raises(RateLimited):
        ask(partial(client.saved_tracks_page, 0))

    assert api_requests(demo_spotify) == before + 1
