"""The demo Web API over real HTTP: the user, paging of the library, artists and errors."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from spotify_demo.harness import DemoSpotify


def get(demo: DemoSpotify, path: str, user: str | None = "ana", **params: Any) -> requests.Response:
    """GET an API path as ``user`` (no token when None)."""
    headers = {"Authorization": f"Bearer {demo.token_for(user)}"} if user else {}
    return demo.http.get(f"{demo.api_url}{path}", params=params, headers=headers, timeout=10)


def all_followed(demo: DemoSpotify, user: str, limit: int) -> list[dict[str, Any]]:
    """Every page of a user's followed artists, following ``next`` links."""
    pages, url = [], f"{demo.api_url}/me/following?type=artist&limit={limit}"
    headers = {"Authorization": f"Bearer {demo.token_for(user)}"}
    while url:
        page = demo.http.get(url, headers=headers, timeout=10).json()["artists"]
        pages.append(page)
        url = page["next"]
    return pages


def test_me_describes_the_owner_of_the_token(demo_spotify: DemoSpotify) -> None:
    response = get(demo_spotify, "/me", user="cleo")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    me = response.json()
    assert (me["id"], me["display_name"], me["type"]) == ("cleo", "Cléo", "user")
    assert not {"email", "country", "product", "followers"} & set(me)


def test_followed_artists_are_cursor_paged_in_a_fixed_order(demo_spotify: DemoSpotify) -> None:
    pages = all_followed(demo_spotify, "ana", limit=50)
    ids = [a["id"] for page in pages for a in page["items"]]
    assert ids == list(demo_spotify.catalog.users["ana"].followed)
    assert len(ids) == 5000 and len(pages) == 100
    for page in pages:
        assert page["total"] == 5000 and page["limit"] == 50
        assert page["cursors"]["after"] == page["items"][-1]["id"]
    assert pages[-1]["next"] is None
    assert all(page["next"].startswith(demo_spotify.api_url) for page in pages[:-1])


def test_the_after_cursor_starts_right_after_the_given_artist(demo_spotify: DemoSpotify) -> None:
    followed = demo_spotify.catalog.users["ben"].followed
    page = get(demo_spotify, "/me/following", "ben", type="artist", after=followed[9], limit=5)
    assert [a["id"] for a in page.json()["artists"]["items"]] == list(followed[10:15])


def test_followed_artists_come_twenty_at_a_time_by_default(demo_spotify: DemoSpotify) -> None:
    page = get(demo_spotify, "/me/following", "cleo", type="artist").json()["artists"]
    assert (page["limit"], len(page["items"]), page["total"]) == (20, 20, 40)


def test_followed_artists_have_no_deprecated_fields(demo_spotify: DemoSpotify) -> None:
    page = get(demo_spotify, "/me/following", "cleo", type="artist", limit=50).json()
    for artist in page["artists"]["items"]:
        assert not {"followers", "genres", "popularity"} & set(artist)
        assert artist["type"] == "artist" and artist["uri"] == f"spotify:artist:{artist['id']}"


def test_an_empty_library_gives_empty_pages(demo_spotify: DemoSpotify) -> None:
    following = get(demo_spotify, "/me/following", "emma", type="artist").json()["artists"]
    assert (following["items"], following["total"], following["next"]) == ([], 0, None)
    tracks = get(demo_spotify, "/me/tracks", "emma").json()
    assert (tracks["items"], tracks["total"], tracks["next"], tracks["previous"]) == (
        [],
        0,
        None,
        None,
    )


def test_saved_tracks_are_offset_paged_newest_first(demo_spotify: DemoSpotify) -> None:
    catalog, seen, offset = demo_spotify.catalog, [], 0
    while True:
        page = get(demo_spotify, "/me/tracks", "ana", limit=50, offset=offset).json()
        assert page["total"] == 3000 and page["offset"] == offset
        seen += [item["track"]["id"] for item in page["items"]]
        if page["next"] is None:
            break
        assert page["next"].endswith(f"offset={offset + 50}&limit=50")
        offset += 50
    assert seen == [s.item_id for s in catalog.users["ana"].saved_tracks]


def test_saved_tracks_credit_every_artist_and_their_album(demo_spotify: DemoSpotify) -> None:
    catalog = demo_spotify.catalog
    items = get(demo_spotify, "/me/tracks", "cleo", limit=50).json()["items"]
    for item in items:
        track = catalog.tracks[item["track"]["id"]]
        assert [a["id"] for a in item["track"]["artists"]] == list(track.artist_ids)
        album = catalog.albums[track.album_id]
        assert [a["id"] for a in item["track"]["album"]["artists"]] == list(album.artist_ids)
    assert any(len(item["track"]["artists"]) > 1 for item in items)


def test_saved_albums_are_offset_paged_with_previous_links(demo_spotify: DemoSpotify) -> None:
    page = get(demo_spotify, "/me/albums", "ben", limit=20, offset=40).json()
    assert page["total"] == 150 and len(page["items"]) == 20
    assert page["previous"].endswith("offset=20&limit=20")
    assert page["next"].endswith("offset=60&limit=20")
    expected = [s.item_id for s in demo_spotify.catalog.users["ben"].saved_albums[40:60]]
    assert [item["album"]["id"] for item in page["items"]] == expected


def test_an_offset_past_the_end_gives_an_empty_page_with_the_total(
    demo_spotify: DemoSpotify,
) -> None:
    page = get(demo_spotify, "/me/albums", "cleo", offset=30, limit=10).json()
    assert (page["items"], page["total"], page["next"]) == ([], 10, None)
    assert page["previous"].endswith("offset=20&limit=10")


def test_an_artist_is_found_by_id(demo_spotify: DemoSpotify) -> None:
    artist = demo_spotify.catalog.artists[1]
    body = get(demo_spotify, f"/artists/{artist.id}").json()
    assert (body["id"], body["name"]) == (artist.id, artist.name)
    assert body["images"][0]["width"] == 640


def test_an_unknown_artist_is_a_404_and_a_malformed_id_a_400(demo_spotify: DemoSpotify) -> None:
    missing = get(demo_spotify, "/artists/" + "0" * 22)
    assert missing.status_code == 404
    assert missing.json() == {"error": {"status": 404, "message": "Resource not found"}}
    malformed = get(demo_spotify, "/artists/not-an-id")
    assert malformed.status_code == 400
    assert malformed.json() == {"error": {"status": 400, "message": "invalid id"}}


def test_several_artists_at_once_is_not_served(demo_spotify: DemoSpotify) -> None:
    ids = ",".join(a.id for a in demo_spotify.catalog.artists[:3])
    response = get(demo_spotify, "/artists", ids=ids)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


@pytest.mark.parametrize(
    "path, params, message",
    [
        ("/me/tracks", {"limit": 0}, "Invalid limit"),
        ("/me/tracks", {"limit": 51}, "Invalid limit"),
        ("/me/albums", {"limit": "ten"}, "Invalid limit"),
        ("/me/albums", {"offset": -1}, "Invalid offset"),
        ("/me/following", {"type": "artist", "limit": 100}, "Invalid limit"),
        ("/me/following", {"type": "user"}, "Invalid type: only artist is supported"),
        ("/me/following", {}, "Missing parameter type"),
        ("/me/following", {"type": "artist", "after": "x"}, "Invalid after cursor"),
    ],
)
def test_bad_paging_parameters_are_a_400(
    demo_spotify: DemoSpotify, path: str, params: dict[str, Any], message: str
) -> None:
    response = get(demo_spotify, path, **params)
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "message": message}}


def test_no_token_an_invalid_one_and_an_expired_one_are_a_401(demo_spotify: DemoSpotify) -> None:
    url = f"{demo_spotify.api_url}/me"
    cases = {
        None: "No token provided",
        "Bearer garbage": "Invalid access token",
        "Bearer " + demo_spotify.token_for("ana")[:-2] + "xx": "Invalid access token",
        "Bearer " + demo_spotify.token_for("ana", expires_in=-1): "The access token expired",
    }
    for header, message in cases.items():
        headers = {"Authorization": header} if header else {}
        response = demo_spotify.http.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == {"error": {"status": 401, "message": message}}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_refresh_token_is_no_access_token(demo_spotify: DemoSpotify) -> None:
    headers = {"Authorization": f"Bearer {demo_spotify.refresh_token_for('ana')}"}
    response = demo_spotify.http.get(f"{demo_spotify.api_url}/me", headers=headers, timeout=10)
    assert response.status_code == 401


def test_the_library_needs_its_scope(demo_spotify: DemoSpotify) -> None:
    token = demo_spotify.token_for("ana", scope="user-read-private")
    headers = {"Authorization": f"Bearer {token}"}
    response = demo_spotify.http.get(f"{demo_spotify.api_url}/me/tracks", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Insufficient client scope"


def test_a_wrong_method_is_a_405_in_json(demo_spotify: DemoSpotify) -> None:
    response = demo_spotify.http.delete(f"{demo_spotify.api_url}/me", timeout=10)
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": {"status": 405, "message": "Method not allowed"}}
    assert response.headers["Allow"] == "GET"


def test_an_unknown_api_path_is_a_404_in_json(demo_spotify: DemoSpotify) -> None:
    response = get(demo_spotify, "/me/playlists")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404
