"""Limiting friend-code guesses, per session and per address, in Redis.

A friend code has 50 bits, so guessing is hopeless anyway; the limit keeps a script from
trying, and keeps the database out of it. When Redis does not answer, guesses are let
through: the codes stay unguessable, and the page keeps working.
"""

from __future__ import annotations

import redis

from config.redis_ref import RedisRef

# At most this many wrong codes per window, for one session and for one address.
MAX_FAILURES = 20
WINDOW_S = 600


class GuessGuard:
    """Counts wrong friend codes and says when to stop accepting more."""

    def __init__(self, ref: RedisRef | None) -> None:
        self.ref = ref

    @staticmethod
    def _keys(ref: RedisRef, session_key: str, address: str) -> list[str]:
        return [ref.key("guesses", "session", session_key), ref.key("guesses", "addr", address)]

    def blocked(self, session_key: str, address: str) -> bool:
        """Whether this session or address has guessed wrong too often lately."""
        if self.ref is None:
            return False
        try:
            counts = self.ref.client.mget(self._keys(self.ref, session_key, address))
        except redis.RedisError:
            return False
        return any(int(c or 0) >= MAX_FAILURES for c in counts)

    def failed(self, session_key: str, address: str) -> None:
        """Count one wrong code."""
        if self.ref is None:
            return
        try:
            with self.ref.client.pipeline() as pipe:
                for key in self._keys(self.ref, session_key, address):
                    # The window starts with the first wrong code (SET NX, not EXPIRE NX,
                    # which the embedded Redis 6 does not know).
                    pipe.set(key, 0, ex=WINDOW_S, nx=True)
                    pipe.incr(key)
                pipe.execute()
        except redis.RedisError:
            pass
