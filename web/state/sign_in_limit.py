"""Sign-ins started (``/login``) and callbacks (``/callback``), limited per client address.

Anyone can start a sign-in, and each callback with a junk code still costs a call to
Spotify's token endpoint with the app's secret. So each address (an IPv6 client's /64: the
caller passes ``address_group`` of ``web/http/client_address.py``) may make
``SIGN_INS_PER_MINUTE`` of each in any rolling minute: a Redis sorted set of the times of
the ones let through, trimmed and counted in one script. A refused one is not added, so a
client hammering away does not lengthen its own wait, and the answer says when the next
will be let through.

When Redis does not answer, sign-ins are let through, as the friend-code guesses are: the
cap on sign-ins talking to Spotify at once (``spotify/sign_in.py``) still holds.
"""

from __future__ import annotations

import math
import secrets

import redis

from config.redis_ref import RedisRef

WINDOW_S = 60
STEPS = ("login", "callback")

# KEYS[1]: the address's set of the times let through. ARGV: the limit, the window (s), a
# nonce (two in the same microsecond stay two). Returns 0 when let through, else the
# microseconds until the oldest leaves the window.
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[2]) * 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"""


class SignInLimit:
    """Counts each address's sign-in steps and says how long one over the limit must wait."""

    def __init__(self, ref: RedisRef | None, per_minute: int) -> None:
        self.ref = ref
        self.per_minute = per_minute
        self._take = ref.client.register_script(_TAKE) if ref is not None else None

    def wait_for(self, step: str, address: str) -> int:
        """Take one ``step`` (``login`` or ``callback``) for ``address``: 0 when it may go
        on, else the whole seconds until the address may try again."""
        if step not in STEPS:
            raise ValueError(f"step must be one of {STEPS}, not {step!r}")
        if self.ref is None or self._take is None:
            return 0
        key = self.ref.key("sign-in-limit", step, address)
        try:
            wait_us = int(self._take(keys=[key], args=[self.per_minute, WINDOW_S, _nonce()]))
        except redis.RedisError:
            return 0
        return math.ceil(wait_us / 1e6)


def _nonce() -> str:
    return secrets.token_hex(6)
