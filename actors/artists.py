"""``update_artist`` and ``update_shared_artist``: make sure one artist is up to date
(thin: see sync.artists)."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq import Retry

from actors import runtime
from actors.retry_policy import retry_when
from jobs import queueing
from spotify.errors import RateLimited
from sync.artists import sync_artist

# The same options for both; they differ in their queue and their priority.
_OPTIONS: dict[str, Any] = {
    "retry_when": retry_when,
    "min_backoff": 1_000,
    "max_backoff": 300_000,
    "time_limit": 2 * 60 * 1000,
}


def _update(spotify_id: str) -> None:
    try:
        sync_artist(runtime.context(), spotify_id)
    except RateLimited as exc:
        raise Retry(str(exc), delay=int(exc.retry_after * 1000)) from exc


@dramatiq.actor(
    actor_name=queueing.UPDATE_ARTIST, queue_name=queueing.ARTISTS_QUEUE, priority=10, **_OPTIONS
)
def update_artist(spotify_id: str) -> None:
    """Bring the artist up to date; a cheap check when it already is."""
    _update(spotify_id)


# Dramatiq orders the messages a worker process has fetched by their actor's priority
# (lower first), whatever queue they came from: so a shared artist (5) runs before the
# artists (10) and the monthly refresh (10) that process fetched, and after a person's own
# sync (0). The queue brings it to the worker; the priority puts it ahead inside it.
@dramatiq.actor(
    actor_name=queueing.UPDATE_SHARED_ARTIST,
    queue_name=queueing.SHARED_QUEUE,
    priority=5,
    **_OPTIONS,
)
def update_shared_artist(spotify_id: str) -> None:
    """Bring a shared artist of an open comparison up to date (see jobs/shared_first.py)."""
    _update(spotify_id)
