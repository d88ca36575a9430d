"""Catalog items as Web API objects, shaped by the Spotify OpenAPI description.

Deprecated fields are left out wherever the schema allows it. The schema still *requires*
some on albums (``available_markets`` on every album; ``genres``, ``label`` and
``popularity`` on full album objects), so those are present with plausible values.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

from spotify_demo.catalog import Album, Artist, Catalog, Track, User

# Required by AlbumBase although deprecated; a short, fixed list is enough for a demo.
_MARKETS = ["BR", "DE", "ES", "FR", "GB", "JP", "SE", "US"]
_ARTIST_SIZES = (640, 320, 160)
_ALBUM_SIZES = (640, 300, 64)
_PROFILE_SIZES = (300, 64)
# People with a profile picture; Dmitri and Emma have none, like many Spotify accounts.
PICTURED_USERS = frozenset({"ana", "ben", "cleo"})


def images(base: str, item_id: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Image objects, widest first, served by the demo's own image route."""
    return [
        {"url": f"{base}/open/image/{item_id}/{size}.jpg", "height": size, "width": size}
        for size in sizes
    ]


def simplified_artist(base: str, artist: Artist) -> dict[str, Any]:
    """A SimplifiedArtistObject."""
    return {
        "external_urls": {"spotify": f"{base}/open/artist/{artist.id}"},
        "href": f"{base}/v1/artists/{artist.id}",
        "id": artist.id,
        "name": artist.name,
        "type": "artist",
        "uri": f"spotify:artist:{artist.id}",
    }


def artist_object(base: str, artist: Artist) -> dict[str, Any]:
    """An ArtistObject without its deprecated followers, genres and popularity."""
    data = simplified_artist(base, artist)
    data["images"] = images(base, artist.id, _ARTIST_SIZES) if artist.has_image else []
    return data


def _artists(base: str, catalog: Catalog, ids: tuple[str, ...]) -> list[dict[str, Any]]:
    # Every id an album or track names is an artist of the same catalog, never None.
    return [simplified_artist(base, catalog.artist(i)) for i in ids]  # type: ignore[arg-type]


def simplified_album(base: str, catalog: Catalog, album: Album) -> dict[str, Any]:
    """A SimplifiedAlbumObject (as found inside a track)."""
    return {
        "album_type": album.album_type,
        "total_tracks": album.total_tracks,
        "available_markets": list(_MARKETS),
        "external_urls": {"spotify": f"{base}/open/album/{album.id}"},
        "href": f"{base}/v1/albums/{album.id}",
        "id": album.id,
        "images": images(base, album.id, _ALBUM_SIZES),
        "name": album.name,
        "release_date": album.release_date,
        "release_date_precision": album.release_date_precision,
        "type": "album",
        "uri": f"spotify:album:{album.id}",
        "artists": _artists(base, catalog, album.artist_ids),
    }


def album_object(base: str, catalog: Catalog, album: Album) -> dict[str, Any]:
    """An AlbumObject with its first 50 tracks, as in a saved album."""
    tracks = catalog.album_tracks(album.id)
    lead = catalog.artist(album.artist_ids[0])
    listeners = lead.listeners if lead else 1
    data = simplified_album(base, catalog, album)
    year = album.release_date[:4]
    data.update(
        {
            "tracks": {
                "href": f"{base}/v1/albums/{album.id}/tracks?offset=0&limit=50",
                "limit": 50,
                "next": None,
                "offset": 0,
                "previous": None,
                "total": len(tracks),
                "items": [simplified_track(base, catalog, t) for t in tracks[:50]],
            },
            "copyrights": [
                {"text": f"{year} {album.label}", "type": "C"},
                {"text": f"{year} {album.label}", "type": "P"},
            ],
            "external_ids": {"upc": f"{zlib.crc32(album.id.encode()):012d}"},
            "genres": [],
            "label": album.label,
            # Required though deprecated: a rough figure from the lead artist's audience.
            "popularity": min(100, int(math.log10(listeners) * 12)),
        }
    )
    return data


def simplified_track(base: str, catalog: Catalog, track: Track) -> dict[str, Any]:
    """A SimplifiedTrackObject (as listed in an album)."""
    return {
        "artists": _artists(base, catalog, track.artist_ids),
        "disc_number": 1,
        "duration_ms": track.duration_ms,
        "explicit": track.explicit,
        "external_urls": {"spotify": f"{base}/open/track/{track.id}"},
        "href": f"{base}/v1/tracks/{track.id}",
        "id": track.id,
        "is_local": False,
        "name": track.name,
        "track_number": track.track_number,
        "type": "track",
        "uri": f"spotify:track:{track.id}",
    }


def track_object(base: str, catalog: Catalog, track: Track) -> dict[str, Any]:
    """A TrackObject with its album and every credited artist."""
    data = simplified_track(base, catalog, track)
    data["album"] = simplified_album(base, catalog, catalog.albums[track.album_id])
    data["external_ids"] = {"isrc": f"QZOVL{zlib.crc32(track.id.encode()) % 10**7:07d}"}
    return data


def private_user(base: str, user: User) -> dict[str, Any]:
    """A PrivateUserObject without the deprecated country, email, followers and product."""
    return {
        "account_id": f"demo-{user.id}",
        "display_name": user.display_name,
        "external_urls": {"spotify": f"{base}/open/user/{user.id}"},
        "href": f"{base}/v1/users/{user.id}",
        "id": user.id,
        "images": images(base, user.id, _PROFILE_SIZES) if user.id in PICTURED_USERS else [],
        "type": "user",
        "uri": f"spotify:user:{user.id}",
    }


def offset_page(
    url: str, items: list[dict[str, Any]], offset: int, limit: int, total: int
) -> dict[str, Any]:
    """A PagingObject for offset paging; ``url`` is the endpoint without its query."""

    def at(start: int) -> str:
        return f"{url}?offset={start}&limit={limit}"

    return {
        "href": at(offset),
        "items": items,
        "limit": limit,
        "next": at(offset + limit) if offset + limit < total else None,
        "offset": offset,
        "previous": at(max(0, offset - limit)) if offset > 0 else None,
        "total": total,
    }
