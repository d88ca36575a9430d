"""When Spotify lets the listener counts go on, for the pages that show them "pending".

A 429 pauses a Spotify host for every worker (``spotify.gate``), and the ``update_artist``
messages it met wait in Redis's delay queue until the pause ends, which can be hours away.
A deferred sync says so from its job row; the counts have no row, so the pages read the
pause itself.
"""

from __future__ import annotations

import datetime as dt

import redis

from config.redis_ref import RedisRef
from config.settings import Settings
from spotify.gate import SpotifyGate

# A count needs the artist page, and the artist's details when the library lacked them.
COUNT_HOSTS = ("open", "api")


def counts_resume_at(ref: RedisRef | None, settings: Settings) -> dt.datetime | None:
    """When the pause of the hosts the counts need ends (naive UTC), or None if none is."""
    if ref is None:
        return None
    gate = SpotifyGate(ref, settings)
    try:
        ends = [gate.paused_until(kind) for kind in COUNT_HOSTS]
    except redis.RedisError:
        return None  # Redis is away: the page answers all the same, without the time.
    known = [end for end in ends if end is not None]
    if not known:
        return None
    return dt.datetime.fromtimestamp(max(known), dt.UTC).replace(tzinfo=None)
