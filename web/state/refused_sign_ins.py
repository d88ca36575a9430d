"""Sign-ins Spotify refused because the person is not on a Development Mode app's user list.

They get through Spotify's consent page and then every Web API call answers 403, so overlap
never learns who they are (their profile is one of those calls). What is kept is when it
happened, and the display name when it is known, in a Redis sorted set (by time) that lives
``KEEP_DAYS`` and holds the latest ``KEEP_LATEST``: enough for the operator to see that
someone tried, and to add them in Spotify's developer dashboard.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import cast

from config.redis_ref import RedisRef
from models.db import utcnow

KEEP_DAYS = 30
KEEP_LATEST = 50


@dataclass(frozen=True)
class RefusedSignIn:
    """One refused sign-in: when (naive UTC), and the display name if Spotify gave it."""

    at: dt.datetime
    display_name: str | None


def _key(ref: RedisRef) -> str:
    return ref.key("refused-sign-ins")


def record(ref: RedisRef, display_name: str | None = None) -> None:
    """Remember one refused sign-in, now."""
    now = utcnow()
    score = now.replace(tzinfo=dt.UTC).timestamp()
    # The nonce keeps two refusals of the same second (and name) apart.
    member = json.dumps({"at": now.isoformat(), "name": display_name, "n": secrets.token_hex(4)})
    key = _key(ref)
    with ref.client.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {member: score})
        pipe.zremrangebyscore(key, "-inf", score - KEEP_DAYS * 86_400)
        pipe.zremrangebyrank(key, 0, -KEEP_LATEST - 1)
        pipe.expire(key, KEEP_DAYS * 86_400)
        pipe.execute()


def latest(ref: RedisRef, limit: int = 20) -> list[RefusedSignIn]:
    """The newest refused sign-ins first."""
    out = []
    # Without scores, each member is its bytes (redis-py's types cover withscores too).
    for raw in cast(list[bytes], ref.client.zrevrange(_key(ref), 0, limit - 1)):
        data = json.loads(raw)
        out.append(RefusedSignIn(dt.datetime.fromisoformat(data["at"]), data.get("name")))
    return out
