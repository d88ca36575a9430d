"""``update_artist``: make sure one artist is up to date (thin: see sync.artists)."""

from __future__ import annotations

import dramatiq
from dramatiq import Retry

from actors import runtime
from actors.retry_policy import retry_when
from jobs import queueing
from spotify.errors import RateLimited
from sync.artists import sync_artist


@dramatiq.actor(
    actor_name=queueing.UPDATE_ARTIST,
    queue_name=queueing.ARTISTS_QUEUE,
    retry_when=retry_when,
    min_backoff=1_000,
    max_backoff=300_000,
    time_limit=2 * 60 * 1000,
    priority=10,
)
def update_artist(spotify_id: str) -> None:
    """Bring the artist up to date; a cheap check when it already is."""
    try:
        sync_artist(runtime.context(), spotify_id)
    except RateLimited as exc:
        raise Retry(str(exc), delay=int(exc.retry_after * 1000)) from exc
