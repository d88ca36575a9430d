"""The demo artist pages: both listener figures, escaped names, pages without figures."""

from __future__ import annotations

import html
import re

import pytest
import requests

from spotify_demo.catalog import Artist
from spotify_demo.harness import DemoSpotify
from spotify_demo.pages import compact


def artist_page(demo: DemoSpotify, artist_id: str, **headers: str) -> requests.Response:
    """GET an artist's page."""
    return demo.http.get(f"{demo.open_url}/artist/{artist_id}", headers=headers, timeout=10)


def named(demo: DemoSpotify, name: str) -> Artist:
    """The catalog's artist called ``name``."""
    return next(a for a in demo.catalog.artists if a.name == name)


@pytest.mark.parametrize(
    "count, text",
    [
        (96, "96"),
        (1_000, "1K"),
        (45_321, "45.3K"),
        (999_960, "1M"),
        (2_500_000, "2.5M"),
        (3_625_445, "3.6M"),
        (123_456_789, "123M"),
    ],
)
def test_the_summary_rounds_listeners_like_spotify(count: int, text: str) -> None:
    assert compact(count) == text


def test_an_artist_page_shows_the_rounded_and_the_exact_figure(demo_spotify: DemoSpotify) -> None:
    artist = named(demo_spotify, "Simone & Garfield")
    response = artist_page(demo_spotify, artist.id, **{"Accept-Language": "de-DE,de;q=0.9"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Content-Language"] == "en"
    summary = f"Artist · {compact(artist.listeners)} monthly listeners."
    assert f'<meta property="og:description" content="{summary}">' in response.text
    assert re.search(rf">{artist.listeners:,} monthly listeners</div>", response.text)


def test_artist_names_are_escaped_on_their_page(demo_spotify: DemoSpotify) -> None:
    for name in ("<script>alert(1)</script> Band", 'The "Quoted" Ones', "Less <Than> & Greater"):
        text = artist_page(demo_spotify, named(demo_spotify, name).id).text
        assert name not in text
        assert "<script>" not in text
        assert f">{html.escape(name)}</h1>" in text
        assert f'<meta property="og:title" content="{html.escape(name)}">' in text


def test_a_few_artists_have_a_page_without_listener_figures(demo_spotify: DemoSpotify) -> None:
    quiet = next(a for a in demo_spotify.catalog.artists if not a.listeners_shown)
    text = artist_page(demo_spotify, quiet.id).text
    assert "monthly listeners" not in text
    assert html.escape(quiet.name) in text


def test_the_no_listeners_rate_hides_the_figures_of_any_artist(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(no_listeners_rate=1)
    text = artist_page(demo_spotify, named(demo_spotify, "Sigur Ósk").id).text
    assert "monthly listeners" not in text


def test_an_unknown_artist_page_is_a_404_page(demo_spotify: DemoSpotify) -> None:
    response = artist_page(demo_spotify, "0" * 22)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


def test_artist_images_are_served_by_the_demo(demo_spotify: DemoSpotify) -> None:
    headers = {"Authorization": f"Bearer {demo_spotify.token_for('ana')}"}
    artist = named(demo_spotify, "Bjørn Ødegaard")
    body = demo_spotify.http.get(f"{demo_spotify.api_url}/artists/{artist.id}", headers=headers)
    image = demo_spotify.http.get(body.json()["images"][0]["url"], timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/jpeg"
    assert image.content.startswith(b"\xff\xd8\xff")  # a JPEG, as Spotify's host serves
