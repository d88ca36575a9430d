"""The demo Spotify's deterministic catalog: artists, albums, tracks and the demo users.

One seed gives the same catalog on every machine and every run (``random.Random(seed)``
only). Users' libraries have the sizes of the table in ``docs/spotify-contract.md``; Ben
overlaps Ana in part. ``scale`` shrinks every size for quick experiments. ``load_users``
adds that many generated users (``load0001``, ...) with small libraries, for load tests.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from spotify_demo import names

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ARTIST_COUNT = 20_000
SOURCES = ("followed", "saved_track", "saved_album")


@dataclass(frozen=True, slots=True)
class Artist:
    """An artist; ``listeners_shown`` is false for the few whose page lacks the figure."""

    id: str
    name: str
    listeners: int
    listeners_shown: bool
    has_image: bool


@dataclass(frozen=True, slots=True)
class Album:
    """An album, single or compilation with its album artists."""

    id: str
    name: str
    artist_ids: tuple[str, ...]
    album_type: str
    release_date: str
    release_date_precision: str
    total_tracks: int
    label: str


@dataclass(frozen=True, slots=True)
class Track:
    """A track with every artist credited on it (the album's plus any featured ones)."""

    id: str
    name: str
    album_id: str
    artist_ids: tuple[str, ...]
    track_number: int
    duration_ms: int
    explicit: bool


@dataclass(frozen=True, slots=True)
class Saved:
    """A track or album in a user's library, with when it was saved."""

    added_at: str
    item_id: str


@dataclass(frozen=True)
class User:
    """A demo user: followed artists in paging order (by id), saved items newest first."""

    id: str
    display_name: str
    blurb: str
    followed: tuple[str, ...]
    saved_tracks: tuple[Saved, ...]
    saved_albums: tuple[Saved, ...]


# id, display name, blurb, followed, saved tracks, saved albums, share taken from Ana's library
USERS = (
    ("ana", "Ana", "heavy listener", 5000, 3000, 500, 0.0),
    ("ben", "Ben", "overlaps Ana in part", 1200, 800, 150, 0.35),
    ("cleo", "Cléo", "a small library", 40, 60, 10, 0.25),
    ("dmitri", "Dmitri", "follows a few artists", 15, 0, 5, 0.2),
    ("emma", "Emma", "an empty library; the admin in demo mode", 0, 0, 0, 0.0),
)
# Generated users are drawn from this named user's library, so they add no artists.
LOAD_USER_TEMPLATE = "cleo"


class Catalog:
    """Everything the demo Spotify serves, with lookups for the routes and the tests."""

    def __init__(
        self,
        seed: int,
        scale: float,
        artists: list[Artist],
        albums: dict[str, Album],
        tracks: dict[str, Track],
        users: dict[str, User],
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.artists = tuple(artists)
        self.albums = albums
        self.tracks = tracks
        self.users = users
        self._artists = {a.id: a for a in artists}
        self._tracks_by_album: dict[str, dict[int, Track]] = {}
        for track in tracks.values():
            self._tracks_by_album.setdefault(track.album_id, {})[track.track_number] = track

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return (self.artists, self.albums, self.tracks, self.users) == (
            other.artists,
            other.albums,
            other.tracks,
            other.users,
        )

    # Compared by value (__eq__ above), so never hashed; typeshed types __hash__ as a method.
    __hash__ = None  # type: ignore[assignment]

    def artist(self, artist_id: str) -> Artist | None:
        """The artist with this id, if any."""
        return self._artists.get(artist_id)

    def user(self, user_id: str) -> User | None:
        """The demo user with this id, if any."""
        return self.users.get(user_id)

    def monthly_listeners(self, artist_id: str) -> int | None:
        """The figure the artist page shows, or None when the page shows none."""
        artist = self._artists.get(artist_id)
        if artist is None or not artist.listeners_shown:
            return None
        return artist.listeners

    def followed_after(self, user_id: str, after: str | None, limit: int) -> list[Artist]:
        """Up to ``limit`` followed artists whose id sorts after ``after`` (cursor paging)."""
        followed = self.users[user_id].followed
        start = bisect.bisect_right(followed, after) if after else 0
        return [self._artists[i] for i in followed[start : start + limit]]

    def expected_artist_ids(self, user_id: str, source: str) -> frozenset[str]:
        """The artist ids the app should derive from one source of a user's library."""
        user = self.users[user_id]
        if source == "followed":
            return frozenset(user.followed)
        if source == "saved_track":
            return frozenset(
                a for s in user.saved_tracks for a in self.tracks[s.item_id].artist_ids
            )
        if source == "saved_album":
            return frozenset(
                a for s in user.saved_albums for a in self.albums[s.item_id].artist_ids
            )
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")

    def first_saved_at(self, user_id: str) -> dict[str, str]:
        """Each artist the user saved a track or album of, with the earliest ``added_at``
        among them: the date the app should keep (a followed-only artist has none)."""
        user, dates = self.users[user_id], dict[str, str]()
        saved = [(s, self.tracks[s.item_id].artist_ids) for s in user.saved_tracks]
        saved += [(s, self.albums[s.item_id].artist_ids) for s in user.saved_albums]
        for item, artist_ids in saved:
            for artist in artist_ids:
                # ISO 8601 in UTC with a "Z": the text sorts as the time does.
                dates[artist] = min(item.added_at, dates.get(artist, item.added_at))
        return dates

    def album_tracks(self, album_id: str) -> list[Track]:
        """Every track of an album: the library's own tracks plus made-up fillers."""
        album = self.albums[album_id]
        known = self._tracks_by_album.get(album_id, {})
        # Seeded by the album id, so fillers are the same whenever and wherever they are made.
        rng = random.Random(f"{self.seed}:{album_id}")
        tracks = []
        for number in range(1, album.total_tracks + 1):
            filler = Track(
                id=spotify_id(rng),
                name=names.title(rng),
                album_id=album_id,
                artist_ids=album.artist_ids,
                track_number=number,
                duration_ms=rng.randint(95_000, 420_000),
                explicit=rng.random() < 0.1,
            )
            tracks.append(known.get(number, filler))
        return tracks


def spotify_id(rng: random.Random) -> str:
    """A random base62 Spotify id of 22 characters."""
    return "".join(rng.choices(BASE62, k=22))


def is_spotify_id(text: str) -> bool:
    """Whether ``text`` has the shape of a Spotify id."""
    return len(text) == 22 and all(c in BASE62 for c in text)
