"""Sign-ins Spotify refused because the person is not on a Development Mode app's user list.

They get through Spotify's consent page and then every Web API call answers 403, so overlap
never learns who they are (their profile is one of those calls). What is kept, for the
operator to see that someone tried and to add them in Spotify's developer dashboard, is
who tried as far as overlap can tell, how often and when last.

Since Spotify names no account, "who" is the address the sign-in came from (an IPv6
client's /64, as the caller passes it): each address holds one entry however often it is
refused, so one account refused again and again from one address cannot fill the list
and push the others' refusals out. The entries are a
Redis sorted set (by the latest refusal) beside a hash of their counts, trimmed together in
one script to ``KEEP_DAYS`` and the latest ``KEEP_LATEST``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from config.redis_ref import RedisRef

KEEP_DAYS = 30
KEEP_LATEST = 50

# KEYS: the addresses by their latest refusal, their counts. ARGV: the address, the age
# kept (s), how many kept, the keys' lifetime (s). The time is Redis's clock.
_RECORD = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
for _, old in ipairs(redis.call('ZRANGE', KEYS[1], 0, -tonumber(ARGV[3]) - 1)) do
  table.insert(gone, old)
end
for _, old in ipairs(gone) do
  redis.call('ZREM', KEYS[1], old)
  redis.call('HDEL', KEYS[2], old)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
"""


@dataclass(frozen=True)
class RefusedSignIn:
    """From where sign-ins were refused, when last (naive UTC) and how many times."""

    at: dt.datetime
    address: str
    tries: int


def _keys(ref: RedisRef) -> list[str]:
    return [ref.key("refused-sign-ins", "by-who"), ref.key("refused-sign-ins", "tries")]


def record(ref: RedisRef, address: str) -> None:
    """Count one sign-in refused now, from ``address``."""
    keep_s = KEEP_DAYS * 86_400
    ref.client.eval(_RECORD, 2, *_keys(ref), address, keep_s, KEEP_LATEST, keep_s)


def latest(ref: RedisRef, limit: int = 20) -> list[RefusedSignIn]:
    """The latest refused sign-in of each address, newest first."""
    by_who, tries = _keys(ref)
    newest = cast(
        list[tuple[bytes, float]], ref.client.zrevrange(by_who, 0, limit - 1, withscores=True)
    )
    if not newest:
        return []
    counts = cast(list[bytes | None], ref.client.hmget(tries, [who for who, _ in newest]))
    return [
        RefusedSignIn(
            at=dt.datetime.fromtimestamp(score, dt.UTC).replace(tzinfo=None),
            address=who.decode(),
            tries=int(count or 1),
        )
        for (who, score), count in zip(newest, counts, strict=True)
    ]


def most_refused(ref: RedisRef, limit: int = 10) -> tuple[list[RefusedSignIn], int]:
    """The ``limit`` addresses refused most often in the window kept (the latest first
    among equals), and how many addresses the window holds."""
    kept = latest(ref, KEEP_LATEST)
    ranked = sorted(kept, key=lambda r: (r.tries, r.at), reverse=True)
    return ranked[:limit], len(kept)
