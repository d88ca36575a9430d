"""Limiting friend-code guesses, per session and per address, in Redis.

A friend code has 50 bits, so guessing is hopeless anyway; the limit keeps a script from
trying, and keeps the database out of it. When Redis does not answer, guesses are let
through: the codes stay unguessable, and the page keeps working.
"""

from __future__ import annotations

import redis

# At most this many wrong codes per window, for one session and for one address.
MAX_FAILURES = 20
WINDOW_S = 600


class GuessGuard:
    """Counts wrong friend codes and says when to stop accepting more."""

    def __init__(self, client: redis.Redis | None, namespace: str) -> None:
        self.client = client
        self.prefix = f"{namespace}:guesses"

    def _keys(self, session_key: str, address: str) -> list[str]:
        return [f"{self.prefix}:session:{session_key}", f"{self.prefix}:addr:{address}"]

    def blocked(self, session_key: str, address: str) -> bool:
        """Whether this session or address has guessed wrong too often lately."""
        if self.client is None:
            return False
        try:
            counts = self.client.mget(self._keys(session_key, address))
        except redis.RedisError:
            return False
        return any(int(c or 0) >= MAX_FAILURES for c in counts)

    def failed(self, session_key: str, address: str) -> None:
        """Count one wrong code."""
        if self.client is None:
            return
        try:
            with self.client.pipeline() as pipe:
                for key in self._keys(session_key, address):
                    # The window starts with the first wrong code (SET NX, not EXPIRE NX,
                    # which the embedded Redis 6 does not know).
                    pipe.set(key, 0, ex=WINDOW_S, nx=True)
                    pipe.incr(key)
                pipe.execute()
        except redis.RedisError:
            pass
