"""A comparison's shared artists first: the listener counts an open comparison waits for.

A sync sends ``update_artist`` for every artist it meets, on the ``artists`` queue, in the
order the libraries list them; the comparison of two people needs only the counts of the
artists both have, which are a few of those, spread through the whole queue. So while a
comparison is incomplete, its page sends ``update_shared_artist`` for each shared artist
still without this month's count on the ``shared`` queue, which every worker reads first
and whose actor has a higher priority inside each worker (actors/artists.py).

The order survives restarts because it lives in Redis (a queue), not in a process. Each
artist is sent once a month per ``SENT_TTL_S``: a ``SET NX`` key per artist and month
claims it, so the page's polls every two seconds, and two people looking at the same
comparison, send nothing more. Should a message still be waiting when its key expires, the
next poll sends a second one, which costs only the up-to-date check when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peewee import JOIN, fn

from config.redis_ref import RedisRef
from jobs import queueing
from models import Artist, ArtistListeners, UserArtist
from models.db import tuple_rows

# How long a sent artist is not sent again: well over the time the shared queue takes to
# reach it at a few page requests a second, short enough that a lost message is sent again
# while someone still looks at the page.
SENT_TTL_S = 15 * 60


def pending_shared_ids(me_id: int, friend_id: int, month: str) -> list[str]:
    """The Spotify ids of the artists both people have that still wait for this month's
    count (no listener row yet, and not gone), as the comparison counts them."""
    mine = UserArtist.select(UserArtist.artist).where(UserArtist.user == me_id)
    theirs = UserArtist.select(UserArtist.artist).where(UserArtist.user == friend_id)
    return _waiting(month, Artist.id.in_(mine), Artist.id.in_(theirs))


def pending_group_ids(user_ids: Sequence[int], month: str) -> list[str]:
    """The Spotify ids of the artists two or more of these people have that still wait for
    this month's count, as a group's report counts them (models/group_comparison.py)."""
    held = (
        UserArtist.select(UserArtist.artist)
        .where(UserArtist.user.in_(list(user_ids)))
        .group_by(UserArtist.artist)
        .having(fn.COUNT(fn.DISTINCT(UserArtist.user)) >= 2)
    )
    return _waiting(month, Artist.id.in_(held))


def _waiting(month: str, *held: Any) -> list[str]:
    """The Spotify ids of the artists matching ``held`` without a row for ``month``, and
    not gone."""
    listeners = ArtistListeners.alias()
    query = (
        Artist.select(Artist.spotify_id)
        .join(
            listeners,
            JOIN.LEFT_OUTER,
            on=(listeners.artist == Artist.id) & (listeners.month == month),
        )
        .where(*held, Artist.gone_at.is_null(), listeners.artist.is_null())
        .order_by(Artist.id)
    )
    return [spotify_id for (spotify_id,) in tuple_rows(query)]


# SET NX EX for each key, in Redis: the positions (from 1) of the keys it set. A pipeline of
# as many SET commands cost 55 ms of the client's time for 5,000 pending artists on every
# poll; this costs one round trip and a few milliseconds.
_CLAIM_LUA = """
local claimed = {}
for i = 1, #KEYS do
    if redis.call("set", KEYS[i], "1", "NX", "EX", ARGV[1]) then
        claimed[#claimed + 1] = i
    end
end
return claimed
"""
# Keys per script call, so that one call never holds Redis for long.
CLAIM_CHUNK = 1_000


def claim_unsent(ref: RedisRef, spotify_ids: Sequence[str], month: str) -> list[str]:
    """The ids not sent yet this month (within ``SENT_TTL_S``), now marked as sent."""
    claim = ref.client.register_script(_CLAIM_LUA)
    unsent: list[str] = []
    for start in range(0, len(spotify_ids), CLAIM_CHUNK):
        chunk = spotify_ids[start : start + CLAIM_CHUNK]
        keys = [ref.key("shared-sent", month, spotify_id) for spotify_id in chunk]
        unsent += [chunk[i - 1] for i in claim(keys=keys, args=[SENT_TTL_S])]
    return unsent


def send_shared_first(ref: RedisRef, me_id: int, friend_id: int, month: str) -> int:
    """Send ``update_shared_artist`` once for each shared artist still waiting for its
    count; how many were sent (0 once all are on their way). Raises ``redis.RedisError``
    when Redis is away: the ``artists`` queue still brings every count, only later."""
    return _send(ref, pending_shared_ids(me_id, friend_id, month), month)


def send_group_first(ref: RedisRef, user_ids: Sequence[int], month: str) -> int:
    """``send_shared_first`` for a group: the artists two or more of its members have."""
    return _send(ref, pending_group_ids(user_ids, month), month)


def _send(ref: RedisRef, pending: list[str], month: str) -> int:
    unsent = claim_unsent(ref, pending, month)
    return queueing.send_many(
        queueing.UPDATE_SHARED_ARTIST, queueing.SHARED_QUEUE, ([sid] for sid in unsent)
    )
