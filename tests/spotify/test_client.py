"""The Spotify client: artist extraction, and paging through the demo users' libraries."""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import requests
import spotipy

from config.logs import formatter
from config.settings import Settings
from spotify.client import (
    ArtistRef,
    SpotifyClient,
    artist_ref,
    artists_of_saved_album,
    artists_of_saved_track,
)
from spotify.errors import BadResponse, NotFound, ServerError
from spotify.paging import OffsetPage
from spotify_demo.harness import DemoSpotify


def artist_obj(spotify_id: str, name: str = "Someone", **extra: object) -> dict:
    """A simplified artist object as the API sends it."""
    return {
        "id": spotify_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{spotify_id}",
        "href": f"https://api.spotify.com/v1/artists/{spotify_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{spotify_id}"},
        **extra,
    }


# --- artist_ref ------------------------------------------------------------------------


def test_artist_ref_keeps_id_name_url_and_the_largest_image() -> None:
    images = [
        {"url": "https://i/160", "width": 160, "height": 160},
        {"url": "https://i/640", "width": 640, "height": 640},
        {"url": "https://i/320", "width": 320, "height": 320},
    ]
    ref = artist_ref(artist_obj("0TnOYISbd1XYRBk9myaseg", "Pitbull", images=images))
    assert ref == ArtistRef(
        spotify_id="0TnOYISbd1XYRBk9myaseg",
        name="Pitbull",
        url="https://open.spotify.com/artist/0TnOYISbd1XYRBk9myaseg",
        image_url="https://i/640",
    )


def test_artist_ref_takes_the_first_image_when_sizes_are_unknown() -> None:
    images = [
        {"url": "https://i/a", "width": None, "height": None},
        {"url": "https://i/b", "width": None, "height": None},
    ]
    assert artist_ref(artist_obj("x", images=images)).image_url == "https://i/a"


@pytest.mark.parametrize("images", [None, [], [{"width": 1}], "nope"])
def test_artist_ref_has_no_image_without_usable_images(images: object) -> None:
    assert artist_ref(artist_obj("x", images=images)).image_url is None


def test_artist_ref_builds_the_canonical_url_when_external_urls_lack_it() -> None:
    obj = artist_obj("abc")
    obj["external_urls"] = {}
    assert artist_ref(obj).url == "https://open.spotify.com/artist/abc"


def test_artist_ref_ignores_the_deprecated_fields() -> None:
    plain = artist_ref(artist_obj("abc"))
    deprecated = {"followers": {"total": 1}, "genres": ["pop"], "popularity": 99}
    assert artist_ref(artist_obj("abc", **deprecated)) == plain


@pytest.mark.parametrize(
    "obj", [None, "abc", {"name": "No id"}, {"id": "", "name": "x"}, {"id": 3}]
)
def test_artist_ref_rejects_what_is_not_an_artist(obj: object) -> None:
    with pytest.raises(BadResponse):
        artist_ref(obj)


# --- artists of saved tracks and albums -------------------------------------------------


def test_every_credited_artist_of_a_saved_track_is_kept_once_in_order() -> None:
    item = {
        "added_at": "2024-05-01T10:00:00Z",
        "track": {
            "id": "t1",
            "name": "Duet",
            "artists": [artist_obj("a1", "Main"), artist_obj("a2", "Feat"), artist_obj("a1")],
            "album": {"id": "al1", "artists": [artist_obj("a9", "Album artist")]},
        },
    }
    assert [r.spotify_id for r in artists_of_saved_track(item)] == ["a1", "a2"]


def test_a_saved_track_no_longer_available_has_no_artists() -> None:
    assert artists_of_saved_track({"added_at": "2024-05-01T10:00:00Z", "track": None}) == []


def test_the_artists_of_a_local_file_are_not_spotify_artists() -> None:
    local = {"id": None, "name": "My Band", "type": "artist", "uri": "spotify:local:::"}
    item = {"track": {"is_local": True, "artists": [local, artist_obj("a1")]}}
    assert [r.spotify_id for r in artists_of_saved_track(item)] == ["a1"]


def test_a_saved_album_gives_its_album_artists() -> None:
    item = {
        "added_at": "2024-05-01T10:00:00Z",
        "album": {"id": "al1", "artists": [artist_obj("a1"), artist_obj("a2")]},
    }
    assert [r.spotify_id for r in artists_of_saved_album(item)] == ["a1", "a2"]


@pytest.mark.parametrize(
    "item", [None, [], {"track": "t1"}, {"track": {"artists": "a1"}}, {"track": {"artists": [1]}}]
)
def test_a_saved_item_of_the_wrong_shape_is_a_bad_response(item: object) -> None:
    with pytest.raises(BadResponse):
        artists_of_saved_track(item)


# --- against the demo Spotify ------------------------------------------------------------


@pytest.fixture
def demo_settings(demo_spotify: DemoSpotify, tmp_path: Path) -> Settings:
    """App settings pointing at the demo Spotify, with a var/ of the test's own."""
    settings = demo_spotify.settings(OVERLAP_VAR_DIR=str(tmp_path))
    assert settings.spotify_api_url == demo_spotify.api_url
    return settings.but(spotify_timeout=5.0)


def client_for(demo_spotify: DemoSpotify, settings: Settings, user_id: str) -> SpotifyClient:
    """A client with a fresh access token of a demo user."""
    return SpotifyClient(settings, demo_spotify.token_for(user_id))


def test_me_is_the_token_owner(demo_spotify: DemoSpotify, demo_settings: Settings) -> None:
    me = client_for(demo_spotify, demo_settings, "cleo").me()
    assert (me["id"], me["display_name"]) == ("cleo", "Cléo")


def test_the_client_counts_the_web_api_requests_it_sends_refused_ones_too(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    client = client_for(demo_spotify, demo_settings, "cleo")
    list(client.iter_saved_tracks())
    client.me()
    demo_spotify.set_faults(fault_rate=1)
    with pytest.raises(ServerError):
        client.me()

    assert client.requests_sent == demo_spotify.stats()["requests"]["api"]
    assert client.requests_sent == 2 + 1 + 1  # two pages of 60 tracks, /me, the refused /me


@pytest.mark.parametrize("user_id", ["cleo", "ana"])
def test_paging_through_followed_artists_gives_every_one_in_cursor_order(
    demo_spotify: DemoSpotify, demo_settings: Settings, user_id: str
) -> None:
    client = client_for(demo_spotify, demo_settings, user_id)
    ids = [artist_ref(a).spotify_id for a in client.iter_followed_artists()]
    assert ids == list(demo_spotify.catalog.user(user_id).followed)
    assert set(ids) == demo_spotify.catalog.expected_artist_ids(user_id, "followed")


@pytest.mark.parametrize("user_id", ["cleo", "ana"])
def test_paging_through_saved_tracks_gives_every_credited_artist(
    demo_spotify: DemoSpotify, demo_settings: Settings, user_id: str
) -> None:
    client = client_for(demo_spotify, demo_settings, user_id)
    items = list(client.iter_saved_tracks())
    assert len(items) == len(demo_spotify.catalog.user(user_id).saved_tracks)
    found = {ref.spotify_id for item in items for ref in artists_of_saved_track(item)}
    assert found == demo_spotify.catalog.expected_artist_ids(user_id, "saved_track")


@pytest.mark.parametrize("user_id", ["cleo", "ana"])
def test_paging_through_saved_albums_gives_every_album_artist(
    demo_spotify: DemoSpotify, demo_settings: Settings, user_id: str
) -> None:
    client = client_for(demo_spotify, demo_settings, user_id)
    items = list(client.iter_saved_albums())
    assert len(items) == len(demo_spotify.catalog.user(user_id).saved_albums)
    found = {ref.spotify_id for item in items for ref in artists_of_saved_album(item)}
    assert found == demo_spotify.catalog.expected_artist_ids(user_id, "saved_album")
    # Pages of fifty, one request each: 500 albums take 10 requests.
    assert demo_spotify.stats()["routes"]["GET /v1/me/albums"] == math.ceil(len(items) / 50)


def test_a_cursor_page_gives_the_total_and_the_cursor_of_the_next_page(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    followed = demo_spotify.catalog.user("cleo").followed  # 40 artists
    client = client_for(demo_spotify, demo_settings, "cleo")
    first = client.followed_artists_page(None, limit=15)
    assert (first.total, len(first.items), first.next_after) == (40, 15, followed[14])
    second = client.followed_artists_page(first.next_after, limit=15)
    assert [a["id"] for a in second.items] == list(followed[15:30])
    last = client.followed_artists_page(second.next_after, limit=15)
    assert (len(last.items), last.next_after) == (10, None)


def test_an_offset_page_gives_the_total_and_the_next_offset(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    client = client_for(demo_spotify, demo_settings, "cleo")  # 60 saved tracks, 10 albums
    first = client.saved_tracks_page(0)
    assert (first.total, len(first.items), first.next_offset) == (60, 50, 50)
    last = client.saved_tracks_page(50)
    assert (len(last.items), last.next_offset) == (10, None)
    albums = client.saved_albums_page(0, limit=4)
    assert (albums.total, len(albums.items), albums.next_offset) == (10, 4, 4)


def test_an_empty_library_gives_empty_pages_and_no_items(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    client = client_for(demo_spotify, demo_settings, "emma")
    page = client.followed_artists_page(None)
    assert (page.items, page.total, page.next_after) == ([], 0, None)
    assert client.saved_tracks_page(0) == OffsetPage(items=[], total=0, next_offset=None)
    assert list(client.iter_followed_artists()) == []
    assert list(client.iter_saved_tracks()) == []
    assert list(client.iter_saved_albums()) == []


def test_one_artist_is_fetched_by_its_own_url(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    artist_id = demo_spotify.catalog.user("cleo").followed[0]
    artist = client_for(demo_spotify, demo_settings, "cleo").artist(artist_id)
    assert artist_ref(artist).name == demo_spotify.catalog.artist(artist_id).name
    routes = demo_spotify.stats()["routes"]
    assert routes.get("GET /v1/artists/<artist_id>") == 1
    assert "GET /v1/artists" not in routes


def test_the_access_token_never_reaches_the_logs(
    demo_spotify: DemoSpotify, demo_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    token = demo_spotify.token_for("cleo")
    client = SpotifyClient(demo_settings, token)
    caplog.set_level(logging.DEBUG)
    client.me()
    # Even with spotipy's own loggers turned up, the lines every process writes (through
    # the one log formatter, text or JSON) hide the token.
    caplog.set_level(logging.DEBUG, logger="spotipy")
    client.me()
    with pytest.raises(NotFound):
        client.artist("0" * 22)
    assert token in caplog.text  # spotipy did log it: the formatter has work to do
    for log_format in ("text", "json"):
        format_line = formatter(demo_settings.but(log_format=log_format), "worker").format
        written = "\n".join(format_line(record) for record in caplog.records)
        assert "Bearer ***" in written
        assert token not in written
        assert token.rpartition(".")[2] not in written


# --- only through spotipy's public methods -----------------------------------------------

# Which public spotipy method, called from outside spotipy, is running now (None: none is).
_public_call: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "public_call", default=None
)


class PublicCallsSpotify(spotipy.Spotify):
    """spotipy's client, noting which of its public methods its caller is inside."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name.startswith("_") or not inspect.ismethod(value):
            return value

        @functools.wraps(value)
        def public(*args: Any, **kwargs: Any) -> Any:
            if _public_call.get() is not None:  # current_user() calls me(): keep the outer
                return value(*args, **kwargs)
            outer = _public_call.set(name)
            try:
                return value(*args, **kwargs)
            finally:
                _public_call.reset(outer)

        return public


class PublicOnlySession(requests.Session):
    """A session that refuses any request not made from inside a public spotipy method."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """Send as usual, noting the public method and the URL; fail outside one."""
        public = _public_call.get()
        if public is None:
            raise AssertionError(f"{method} {url!r} was sent by a private spotipy method")
        response = super().request(method, url, *args, **kwargs)
        self.sent.append((public, response.request.url))
        return response


@pytest.fixture
def public_only(monkeypatch: pytest.MonkeyPatch) -> PublicOnlySession:
    """A session for a client whose spotipy refuses requests from its private methods."""
    monkeypatch.setattr(spotipy, "Spotify", PublicCallsSpotify)
    return PublicOnlySession()


def test_every_request_goes_through_a_public_spotipy_method_to_the_same_url(
    demo_spotify: DemoSpotify, demo_settings: Settings, public_only: PublicOnlySession
) -> None:
    # Given a client whose spotipy fails any request made outside its public methods...
    token = demo_spotify.token_for("cleo")  # 40 followed artists, 60 saved tracks
    client = SpotifyClient(demo_settings, token, session=public_only)
    artist_id = demo_spotify.catalog.user("cleo").followed[0]

    # When it makes every kind of call, a refused one included...
    client.me()
    client.artist(artist_id)
    with pytest.raises(NotFound):
        client.artist("0" * 22)
    first = client.followed_artists_page(None, limit=15)
    client.followed_artists_page(first.next_after, limit=15)
    list(client.iter_saved_tracks())
    client.saved_albums_page(0)

    # Then each request came from the public method named, with the query Spotify documents.
    api = demo_spotify.api_url
    assert public_only.sent == [
        ("current_user", f"{api}/me/"),
        ("artist", f"{api}/artists/{artist_id}"),
        ("artist", f"{api}/artists/{'0' * 22}"),
        ("current_user_followed_artists", f"{api}/me/following?type=artist&limit=15"),
        (
            "current_user_followed_artists",
            f"{api}/me/following?type=artist&limit=15&after={first.next_after}",
        ),
        ("current_user_saved_tracks", f"{api}/me/tracks?limit=50&offset=0"),
        ("current_user_saved_tracks", f"{api}/me/tracks?limit=50&offset=50"),
        ("current_user_saved_albums", f"{api}/me/albums?limit=50&offset=0"),
    ]


def test_the_guard_catches_a_request_from_a_private_spotipy_method(
    demo_spotify: DemoSpotify, demo_settings: Settings, public_only: PublicOnlySession
) -> None:
    # The check above would pass vacuously if the guard let private calls through.
    client = SpotifyClient(demo_settings, demo_spotify.token_for("cleo"), session=public_only)
    with pytest.raises(AssertionError, match="private spotipy method"):
        client._sp._get("me")
    assert public_only.sent == []
