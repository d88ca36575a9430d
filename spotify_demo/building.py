"""How the demo catalog is made up from one seed (``build_catalog``; the shapes are in ``catalog``).

Every random choice comes from one ``random.Random(seed)`` in a fixed order, so a change
here changes the whole catalog: keep the order of calls stable.
"""

from __future__ import annotations

import functools
import math
import random
from datetime import UTC, datetime

from spotify_demo import names
from spotify_demo.catalog import (
    ARTIST_COUNT,
    LOAD_USER_TEMPLATE,
    USERS,
    Album,
    Artist,
    Catalog,
    Saved,
    Track,
    User,
    spotify_id,
)
from spotify_demo.config import DEFAULT_SEED

# Log-normal monthly listeners: a median of about 25,000, a few dozen at the bottom and a
# handful of stars above 100 million, like the real long tail.
_LISTENERS_MU = math.log(25_000)
_LISTENERS_SIGMA = 2.2
_LISTENERS_FLOOR = 24
_LISTENERS_CEILING = 130_000_000
_NO_PAGE_FIGURE_SHARE = 0.01
_IMAGE_SHARE = 0.9
# Newest library item; added_at times go back from here, so no build depends on the clock.
_LATEST_ADD = int(datetime(2024, 5, 31, 18, 0, tzinfo=UTC).timestamp())


class _Builder:
    """Holds the random source and the growing catalog while it is built."""

    def __init__(self, seed: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.scale = scale
        self.used_ids: set[str] = set()
        self.artists: list[Artist] = []
        self.albums: dict[str, Album] = {}
        self.tracks: dict[str, Track] = {}

    def sized(self, count: int) -> int:
        """A size of the contract shrunk by ``scale`` (never to zero when it was not)."""
        return max(1, round(count * self.scale)) if count else 0

    def new_id(self) -> str:
        """A fresh id, unique within the catalog."""
        while True:
            candidate = spotify_id(self.rng)
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def make_artists(self) -> None:
        """All artists, the special names first."""
        rng = self.rng
        total = max(self.sized(ARTIST_COUNT), 200)
        for index in range(total):
            special = index < len(names.SPECIAL_ARTIST_NAMES)
            name = names.SPECIAL_ARTIST_NAMES[index] if special else names.artist_name(rng)
            listeners = _LISTENERS_FLOOR + int(rng.lognormvariate(_LISTENERS_MU, _LISTENERS_SIGMA))
            if listeners > _LISTENERS_CEILING:
                # No real artist has far above 120 million, so the rare outlier is folded back.
                listeners = 100_000_000 + listeners % (_LISTENERS_CEILING - 100_000_000)
            self.artists.append(
                Artist(
                    id=self.new_id(),
                    name=name,
                    listeners=listeners,
                    # The special artists always show their figure, so page tests can rely on it.
                    listeners_shown=special or rng.random() >= _NO_PAGE_FIGURE_SHARE,
                    has_image=special or rng.random() < _IMAGE_SHARE,
                )
            )

    def new_album(self, primary: str) -> Album:
        """A new album whose first album artist is ``primary``."""
        rng = self.rng
        kind = rng.choices(("album", "single", "compilation"), weights=(60, 28, 12))[0]
        artist_ids: tuple[str, ...] = (primary,)
        if kind == "compilation" or rng.random() < 0.08:
            artist_ids += (rng.choice(self.artists).id,)
        total = {"album": rng.randint(8, 16), "single": rng.randint(1, 3)}.get(kind, 18)
        year = rng.randint(1962, 2024)
        if rng.random() < 0.15:
            release, precision = str(year), "year"
        else:
            release, precision = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "day"
        album = Album(
            id=self.new_id(),
            name=names.title(rng),
            artist_ids=tuple(dict.fromkeys(artist_ids)),
            album_type=kind,
            release_date=release,
            release_date_precision=precision,
            total_tracks=total,
            label=names.label(rng),
        )
        self.albums[album.id] = album
        return album

    def new_tracks(self, album: Album, count: int) -> list[Track]:
        """Up to ``count`` new tracks of ``album``; some credit one or two featured artists."""
        rng = self.rng
        numbers = sorted(
            rng.sample(range(1, album.total_tracks + 1), min(count, album.total_tracks))
        )
        made = []
        for number in numbers:
            featured = rng.choices((0, 1, 2), weights=(70, 22, 8))[0]
            credits = album.artist_ids + tuple(rng.choice(self.artists).id for _ in range(featured))
            track = Track(
                id=self.new_id(),
                name=names.title(rng),
                album_id=album.id,
                artist_ids=tuple(dict.fromkeys(credits))[:3],
                track_number=number,
                duration_ms=rng.randint(95_000, 420_000),
                explicit=rng.random() < 0.1,
            )
            self.tracks[track.id] = track
            made.append(track)
        return made

    def pick_primary(self, followed: list[str]) -> str:
        """An album artist: often one the user follows, as people save what they follow."""
        if followed and self.rng.random() < 0.55:
            return self.rng.choice(followed)
        return self.rng.choice(self.artists).id

    def followed(
        self, size: int, shared: list[str], share: float, favourites: list[str]
    ) -> list[str]:
        """``size`` artist ids: ``favourites`` first, a ``share`` of ``shared``, then others."""
        chosen = list(dict.fromkeys(favourites))[:size]
        taken = set(chosen)
        from_shared = [a for a in shared if a not in taken]
        chosen += self.rng.sample(from_shared, min(round(size * share), len(from_shared)))
        taken.update(chosen)
        excluded = taken | set(shared)
        while len(chosen) < size:
            candidate = self.rng.choice(self.artists).id
            if candidate not in excluded:
                chosen.append(candidate)
                excluded.add(candidate)
        return chosen[:size]

    def saved_tracks(
        self, size: int, shared: list[str], share: float, follows: list[str]
    ) -> list[str]:
        """``size`` track ids: a ``share`` of ``shared``, the rest on new albums."""
        chosen = self.rng.sample(shared, min(round(size * share), len(shared)))
        while len(chosen) < size:
            album = self.new_album(self.pick_primary(follows))
            wanted = min(self.rng.randint(1, 3), size - len(chosen))
            chosen += [t.id for t in self.new_tracks(album, wanted)]
        # Mixed, so that shared items are not all the newest in the library.
        self.rng.shuffle(chosen)
        return chosen

    def saved_albums(
        self,
        size: int,
        shared: list[str],
        share: float,
        follows: list[str],
        track_ids: list[str],
    ) -> list[str]:
        """``size`` album ids: some shared, some of the user's saved tracks, the rest new."""
        chosen = self.rng.sample(shared, min(round(size * share), len(shared)))
        of_tracks = list(dict.fromkeys(self.tracks[t].album_id for t in track_ids))
        taken = set(chosen)
        for album_id in self.rng.sample(of_tracks, min(len(of_tracks), round(size * 0.4))):
            if len(chosen) < size and album_id not in taken:
                chosen.append(album_id)
                taken.add(album_id)
        while len(chosen) < size:
            chosen.append(self.new_album(self.pick_primary(follows)).id)
        self.rng.shuffle(chosen)
        return chosen

    def added_times(self, count: int, mean_gap_s: float) -> list[str]:
        """``count`` save times, newest first, going back from a fixed moment."""
        moment, times = _LATEST_ADD, []
        for _ in range(count):
            moment -= 60 + int(self.rng.expovariate(1 / mean_gap_s))
            times.append(datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return times


def build_load_users(seed: int, template: User, count: int) -> dict[str, User]:
    """``count`` generated users, ``load0001`` on: each follows three of ``template``'s
    artists and saved three of its tracks and one of its albums.

    Each draws from a random source of its own (seeded by the catalog's seed and its id),
    never from the catalog's, so adding them changes nothing else in the catalog.
    """
    users = {}
    for number in range(1, count + 1):
        user_id = f"load{number:04d}"
        rng = random.Random(f"{seed}:{user_id}")

        def some(items: tuple, k: int, rng: random.Random = rng) -> list:
            return rng.sample(items, min(k, len(items)))

        def newest_first(saved: list[Saved]) -> tuple[Saved, ...]:
            return tuple(sorted(saved, key=lambda s: s.added_at, reverse=True))

        users[user_id] = User(
            id=user_id,
            display_name=f"Load {number:04d}",
            blurb=f"a generated user: a few of {template.display_name}'s artists",
            followed=tuple(sorted(some(template.followed, 3))),
            saved_tracks=newest_first(some(template.saved_tracks, 3)),
            saved_albums=newest_first(some(template.saved_albums, 1)),
        )
    return users


def build(seed: int, scale: float, user_table: tuple[tuple, ...]) -> Catalog:
    """Make the whole catalog: artists first, then each user's library in table order."""
    builder = _Builder(seed, scale)
    builder.make_artists()
    specials = [a.id for a in builder.artists[: len(names.SPECIAL_ARTIST_NAMES)]]
    users: dict[str, User] = {}
    ana: dict[str, list[str]] = {"followed": [], "tracks": [], "albums": []}
    for user_id, display, blurb, n_followed, n_tracks, n_albums, share in user_table:
        # Ana and Cléo follow the special names, so pages about them exercise escaping.
        favourites = specials if user_id in ("ana", "cleo") else []
        followed = builder.followed(builder.sized(n_followed), ana["followed"], share, favourites)
        tracks = builder.saved_tracks(builder.sized(n_tracks), ana["tracks"], share, followed)
        albums = builder.saved_albums(
            builder.sized(n_albums), ana["albums"], share, followed, tracks
        )
        if user_id == "ana":
            ana = {"followed": followed, "tracks": tracks, "albums": albums}
        gap = 86_400 * 3 if len(tracks) + len(albums) < 100 else 3_600 * 6
        users[user_id] = User(
            id=user_id,
            display_name=display,
            blurb=blurb,
            followed=tuple(sorted(followed)),
            saved_tracks=tuple(map(Saved, builder.added_times(len(tracks), gap), tracks)),
            saved_albums=tuple(map(Saved, builder.added_times(len(albums), gap), albums)),
        )
    return Catalog(seed, scale, builder.artists, builder.albums, builder.tracks, users)


def new_catalog(seed: int = DEFAULT_SEED, scale: float = 1.0, load_users: int = 0) -> Catalog:
    """A new catalog from ``seed``; equal arguments give equal catalogs."""
    catalog = build(seed, scale, USERS)
    template = catalog.users[LOAD_USER_TEMPLATE]
    catalog.users.update(build_load_users(seed, template, load_users))
    return catalog


@functools.lru_cache(maxsize=4)
def build_catalog(seed: int = DEFAULT_SEED, scale: float = 1.0, load_users: int = 0) -> Catalog:
    """The catalog for these arguments, built once per process and shared."""
    return new_catalog(seed, scale, load_users)
