"""The Spotify Web API client: one HTTP request per call, typed errors, no retries.

Every call goes through one of spotipy's public methods (``current_user``,
``current_user_followed_artists``, ``current_user_saved_tracks``,
``current_user_saved_albums``, ``artist``). Jobs (Dramatiq actors) decide when to retry, so
the client never retries: spotipy is given a plain ``requests.Session`` (its own session
retries 429 and 5xx, sleeping through ``Retry-After`` and then dropping the header) and its
retries set to zero. The only waiting is the ``SpotifyGate``'s, when one is given: a slot
under the shared rate limit before each request, and a 429's pause, which the client sets
for every process.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import spotipy

from config.settings import Settings
from spotify.errors import (
    BadResponse,
    RateLimited,
    TokenRefused,
    error_for_requests,
    error_for_status,
)
from spotify.gate import SpotifyGate
from spotify.oauth import CallbackCacheHandler, UserAuth
from spotify.paging import CursorPage, OffsetPage, cursor_page, offset_page
from spotify.slot_ahead import SlotAhead

PAGE_LIMIT = 50


class TokenSource(Protocol):
    """What spotipy asks of an auth manager."""

    def get_access_token(self, as_dict: bool = False) -> str | dict[str, Any]: ...


@dataclass(frozen=True)
class ArtistRef:
    """The few facts about an artist that we keep."""

    spotify_id: str
    name: str
    url: str
    image_url: str | None


class SpotifyClient:
    """The Web API calls the app makes, for one user (or one bare access token)."""

    def __init__(
        self,
        settings: Settings,
        auth: str | TokenSource,
        session: requests.Session | None = None,
        gate: SpotifyGate | None = None,
        lane: str = "api",
    ) -> None:
        self.settings = settings
        self.gate = gate
        # The gate's line this client's requests wait in: the Web API's, or sign-in's.
        self.lane = lane
        self._session = session or requests.Session()
        # Web API requests sent by this client (tried, whatever the answer): what a job
        # spent of the app's request budget. A sync's page threads share the client.
        self._sent = 0
        self._sent_lock = threading.Lock()
        # The calling thread's line of requests taking their slots ahead (slots_ahead).
        self._line = threading.local()
        token, manager = (auth, None) if isinstance(auth, str) else (None, auth)
        self._auth = manager
        self._sp = spotipy.Spotify(
            auth=token,
            auth_manager=manager,
            requests_session=self._session,
            requests_timeout=settings.spotify_timeout,
            retries=0,
            status_retries=0,
            backoff_factor=0,
        )
        # spotipy takes the API's address only as this (public) attribute, not as an
        # argument; it is how the client talks to the demo Spotify.
        self._sp.prefix = settings.spotify_api_url + "/"

    @classmethod
    def for_user(
        cls,
        settings: Settings,
        load_token: Callable[[], dict[str, Any] | None],
        save_token: Callable[[dict[str, Any]], None],
        on_needs_reauth: Callable[[], None] | None = None,
        gate: SpotifyGate | None = None,
    ) -> SpotifyClient:
        """A client on a stored token, refreshed and saved again when it expires.

        ``on_needs_reauth`` is called when there is no usable token or Spotify refuses the
        refresh token. A 401 from the API refreshes the token once and asks again; only a
        second 401 raises ``NeedsReauth`` without calling it.
        """
        session = requests.Session()
        auth = UserAuth(
            settings, CallbackCacheHandler(load_token, save_token), on_needs_reauth, session
        )
        return cls(settings, auth, session, gate)

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    @contextmanager
    def slots_ahead(self, more: Callable[[], bool]) -> Iterator[SlotAhead | None]:
        """While the block runs, each request of this thread has the gate's slot of the
        next one taken while it is in flight, as long as ``more()`` says one will come
        (``spotify/slot_ahead.py``): for requests that must come one after the other."""
        if self.gate is None:
            yield None
            return
        line = self._line.ahead = SlotAhead(self.gate, self.lane, more)
        try:
            yield line
        finally:
            self._line.ahead = None
            line.close()

    @property
    def requests_sent(self) -> int:
        """How many Web API requests this client has sent (refused ones included)."""
        return self._sent

    def __enter__(self) -> SpotifyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def me(self) -> dict[str, Any]:
        """The signed-in user's profile (``id``, ``display_name``...)."""
        data = self._call("the user's profile", self._sp.current_user)
        if not isinstance(data.get("id"), str):
            raise BadResponse("Spotify's profile answer has no id")
        return data

    def artist(self, spotify_id: str) -> dict[str, Any]:
        """One artist, by id (GET /artists/{id}; the several-ids endpoint is deprecated)."""
        # spotipy refuses an id that is not base-62 with a 400 of its own, before asking
        # Spotify, which would refuse it with a 400 too: either way a RequestRejected.
        data = self._call(f"artist {spotify_id}", self._sp.artist, spotify_id)
        artist_ref(data)  # checks the shape
        return data

    def followed_artists_page(self, after: str | None, limit: int = PAGE_LIMIT) -> CursorPage:
        """One page of the artists the user follows, after the cursor ``after``."""
        followed = self._sp.current_user_followed_artists
        data = self._call("the followed artists", followed, limit=limit, after=after)
        return cursor_page(data.get("artists"), "followed artists")

    def saved_tracks_page(self, offset: int, limit: int = PAGE_LIMIT) -> OffsetPage:
        """One page of the user's saved tracks (items hold ``track``)."""
        saved = self._sp.current_user_saved_tracks
        data = self._call("the saved tracks", saved, limit=limit, offset=offset)
        return offset_page(data, offset, "saved tracks")

    def saved_albums_page(self, offset: int, limit: int = PAGE_LIMIT) -> OffsetPage:
        """One page of the user's saved albums (items hold ``album``)."""
        saved = self._sp.current_user_saved_albums
        data = self._call("the saved albums", saved, limit=limit, offset=offset)
        return offset_page(data, offset, "saved albums")

    def iter_followed_artists(self) -> Iterator[dict[str, Any]]:
        """Every followed artist, page after page."""
        after: str | None = None
        while True:
            page = self.followed_artists_page(after)
            yield from page.items
            # A cursor that does not move would loop forever; treat it as the end.
            if page.next_after is None or page.next_after == after or not page.items:
                return
            after = page.next_after

    def iter_saved_tracks(self) -> Iterator[dict[str, Any]]:
        """Every saved-track item, page after page."""
        return self._iter_offset(self.saved_tracks_page)

    def iter_saved_albums(self) -> Iterator[dict[str, Any]]:
        """Every saved-album item, page after page."""
        return self._iter_offset(self.saved_albums_page)

    def _iter_offset(self, fetch: Callable[[int], OffsetPage]) -> Iterator[dict[str, Any]]:
        """Page through an offset-paged list to its end."""
        offset: int | None = 0
        while offset is not None:
            page = fetch(offset)
            yield from page.items
            offset = page.next_offset

    def _call(
        self, what: str, request: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """Make one spotipy call and give back the JSON object, errors typed.

        Spotify may refuse an access token (401) before the expiry it announced: the token
        is renewed once and the request made again. Only a refused refresh (``NeedsReauth``
        from the auth manager) or a second 401 (``TokenRefused``) goes up to the caller.
        """
        renew = getattr(self._auth, "renew", None)
        try:
            return self._send(what, request, *args, **kwargs)
        except TokenRefused:
            if renew is None:
                raise
        renew()
        return self._send(what, request, *args, **kwargs)

    def _send(
        self, what: str, request: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """Make one spotipy call under the gate and give back the JSON object, errors typed."""
        line: SlotAhead | None = getattr(self._line, "ahead", None)
        if line is not None:
            line.before_request()
        elif self.gate is not None:
            self.gate.before_request(self.lane)
        with self._sent_lock:
            self._sent += 1
        try:
            data = request(*args, **kwargs)
        except spotipy.SpotifyException as exc:
            error = error_for_status(exc.http_status, exc.headers, "api", what, str(exc.msg))
            if isinstance(error, RateLimited) and self.gate is not None:
                # Every process stops calling the API until Spotify's Retry-After has passed.
                self.gate.pause("api", error.retry_after)
            raise error from exc
        except requests.RequestException as exc:
            failure = error_for_requests(exc, what)
            if failure is None:
                raise
            raise failure from exc
        # spotipy turns an unreadable JSON body into None instead of raising.
        if not isinstance(data, dict):
            raise BadResponse(f"Spotify's answer for {what} was not a JSON object")
        return data


def artist_ref(artist: Any) -> ArtistRef:
    """The ``ArtistRef`` of an artist object (full or simplified)."""
    if not isinstance(artist, dict):
        raise BadResponse("An artist in Spotify's answer is not an object")
    spotify_id, name = artist.get("id"), artist.get("name")
    if not isinstance(spotify_id, str) or not spotify_id or not isinstance(name, str):
        raise BadResponse("An artist in Spotify's answer has no id or name")
    urls = artist.get("external_urls")
    url = urls.get("spotify") if isinstance(urls, dict) else None
    if not isinstance(url, str) or not url:
        url = f"https://open.spotify.com/artist/{spotify_id}"
    return ArtistRef(spotify_id, name, url, _largest_image(artist.get("images")))


def artists_of_saved_track(item: Any) -> list[ArtistRef]:
    """Every artist credited on a saved track (none for a removed or local track)."""
    return _credited(item, "track")


def artists_of_saved_album(item: Any) -> list[ArtistRef]:
    """The artists of a saved album."""
    return _credited(item, "album")


def saved_at(item: Any) -> dt.datetime | None:
    """When a saved track or album was saved (its ``added_at``), as naive UTC; None when
    the item carries no readable date (the sync then keeps none rather than fail)."""
    added = item.get("added_at") if isinstance(item, dict) else None
    if not isinstance(added, str):
        return None
    try:
        # Spotify writes ISO 8601 in UTC with a "Z"; Python 3.11 reads it.
        when = dt.datetime.fromisoformat(added)
    except ValueError:
        return None
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _credited(item: Any, kind: str) -> list[ArtistRef]:
    """The artists of the track or album inside a saved item, once each, in credit order."""
    if not isinstance(item, dict):
        raise BadResponse(f"A saved {kind} in Spotify's answer is not an object")
    thing = item.get(kind)
    if thing is None:  # Spotify sends a null track for one that is no longer available.
        return []
    if not isinstance(thing, dict) or not isinstance(thing.get("artists", []), list):
        raise BadResponse(f"A saved {kind} in Spotify's answer has no artists list")
    refs: dict[str, ArtistRef] = {}
    for artist in thing.get("artists", []):
        # Local files carry artists with a null id: they are not on Spotify.
        if isinstance(artist, dict) and artist.get("id") is None:
            continue
        ref = artist_ref(artist)
        refs.setdefault(ref.spotify_id, ref)
    return list(refs.values())


def profile_image(profile: dict[str, Any]) -> str | None:
    """The largest picture of a user profile (``/me``), if it has one."""
    return _largest_image(profile.get("images"))


def _largest_image(images: Any) -> str | None:
    """The URL of the largest image; Spotify lists them widest first when sizes are unknown."""
    if not isinstance(images, list):
        return None
    usable = [i for i in images if isinstance(i, dict) and isinstance(i.get("url"), str)]
    if not usable:
        return None

    def area(image: dict[str, Any]) -> int:
        width, height = image.get("width"), image.get("height")
        if isinstance(width, int) and isinstance(height, int):
            return width * height
        return 0

    largest: str = max(usable, key=area)["url"]
    return largest
