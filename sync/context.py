"""What the core functions need from the outside, built once per process.

Actors, the CLI and tests build a ``SyncContext`` and pass it in; nothing here reads the
environment or a global.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from config.redis_ref import RedisRef
from config.settings import Settings
from jobs import queueing
from models import User
from spotify.client import SpotifyClient
from spotify.gate import SpotifyGate
from spotify.listeners import ListenerPageClient
from sync.artist_reads import ArtistReads
from sync.library_stamps import LibraryStamps

log = logging.getLogger(__name__)
ArtistSender = Callable[[Iterable[str]], int]


def send_artist_updates(spotify_ids: Iterable[str]) -> int:
    """Ask the workers to bring these artists up to date (one pipelined batch)."""
    return queueing.send_many(
        queueing.UPDATE_ARTIST, queueing.ARTISTS_QUEUE, ([sid] for sid in spotify_ids)
    )


@dataclass
class SyncContext:
    """Settings, the shared Spotify limits and the ways out to Spotify and the queue."""

    settings: Settings
    gate: SpotifyGate | None = None
    send_artists: ArtistSender = send_artist_updates
    page_threads: int = 3
    stamps: LibraryStamps | None = None
    reads: ArtistReads | None = None
    _pages: ListenerPageClient | None = field(default=None, repr=False)
    _app_client: SpotifyClient | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, redis_client: redis.Redis | None = None) -> SyncContext:
        """A context with the global rate limit in ``redis_client`` (or none at all)."""
        if redis_client is None:
            return cls(settings=settings)
        ref = RedisRef.from_settings(settings, redis_client)
        return cls(
            settings=settings,
            gate=SpotifyGate(ref, settings),
            stamps=LibraryStamps(ref),
            reads=ArtistReads(ref),
        )

    def library_changed(self, user_ids: Iterable[int] = (), artist_id: int | None = None) -> None:
        """Tell the comparison cache that these people's (or this artist's people's) data
        changed. Called after the commit; a failure only leaves a cache entry to expire."""
        if self.stamps is None:
            return
        try:
            if artist_id is not None:
                self.stamps.touch_artist(artist_id)
            self.stamps.touch(user_ids)
        except redis.RedisError as error:
            log.warning("could not touch library stamps: %s", error)

    def page_stored(self, user_ids: list[int], outdated: list[str]) -> int:
        """After a library page's commit: touch these people's stamps and send the
        outdated artists' updates; how many were sent. One Redis round trip when both go
        to the broker's Redis (across machines each round trip costs the link's delay
        twice), else the two apart."""
        stamps = self.stamps
        if outdated and stamps is not None and self.send_artists is send_artist_updates:
            broker = dramatiq.get_broker()
            if isinstance(broker, RedisBroker) and broker.client is stamps.ref.client:
                return queueing.send_many(
                    queueing.UPDATE_ARTIST, queueing.ARTISTS_QUEUE, ([s] for s in outdated),
                    also=lambda pipe: stamps.touch_in(pipe, user_ids),
                )  # fmt: skip
        self.library_changed(user_ids)
        return self.send_artists(outdated) if outdated else 0

    def client_for(self, user: User) -> SpotifyClient:
        """A Web API client on the user's stored tokens."""
        return SpotifyClient.for_user(
            self.settings,
            user.load_token,
            user.save_token,
            on_needs_reauth=user.mark_needs_reauth,
            gate=self.gate,
        )

    def app_client(self) -> SpotifyClient:
        """A Web API client on the app's own token (for catalog reads)."""
        if self._app_client is None:
            from spotify.oauth import AppAuth

            self._app_client = SpotifyClient(self.settings, AppAuth(self.settings), gate=self.gate)
        return self._app_client

    def pages(self) -> ListenerPageClient:
        """The client of the public artist pages."""
        if self._pages is None:
            self._pages = ListenerPageClient(self.settings, gate=self.gate)
        return self._pages
