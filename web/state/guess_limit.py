"""Limiting friend-code guesses, per signed-in person and per address, in Redis.

A friend code has 50 bits, so guessing is hopeless anyway; the limit keeps a script from
trying, and keeps the database out of it. When Redis does not answer, guesses are let
through: the codes stay unguessable, and the page keeps working.

The counts key on what a client cannot choose: the signed-in person's id (not the session,
whose CSRF token a replayed sign-in cookie renews) and the peer address (not a header,
unless a trusted proxy set it: ``web/http/client_address.py``).
"""

from __future__ import annotations

import redis

from config.redis_ref import RedisRef

# At most this many wrong codes per window for one person, and for one address (higher:
# people behind one NAT share an address, and one of them must not lock out the others).
MAX_FAILURES = 20
MAX_ADDRESS_FAILURES = 100
WINDOW_S = 600


class GuessGuard:
    """Counts wrong friend codes and says when to stop accepting more."""

    def __init__(self, ref: RedisRef | None) -> None:
        self.ref = ref

    @staticmethod
    def user_key(ref: RedisRef, user_id: int) -> str:
        """The key counting one person's wrong codes (deleted with the person)."""
        return ref.key("guesses", "user", str(user_id))

    @staticmethod
    def _keys(ref: RedisRef, user_id: int | None, address: str) -> list[str]:
        # Signed out (the welcome page of a share link), only the address counts.
        mine = [GuessGuard.user_key(ref, user_id)] if user_id is not None else []
        return [*mine, ref.key("guesses", "addr", address)]

    def blocked(self, user_id: int | None, address: str) -> bool:
        """Whether this person or address has guessed wrong too often lately."""
        if self.ref is None:
            return False
        try:
            *mine, here = self.ref.client.mget(self._keys(self.ref, user_id, address))
        except redis.RedisError:
            return False
        return any(int(c or 0) >= MAX_FAILURES for c in mine) or (
            int(here or 0) >= MAX_ADDRESS_FAILURES
        )

    def failed(self, user_id: int | None, address: str) -> None:
        """Count one wrong code."""
        if self.ref is None:
            return
        try:
            with self.ref.client.pipeline() as pipe:
                for key in self._keys(self.ref, user_id, address):
                    # The window starts with the first wrong code (SET NX, not EXPIRE NX,
                    # which the embedded Redis 6 does not know).
                    pipe.set(key, 0, ex=WINDOW_S, nx=True)
                    pipe.incr(key)
                pipe.execute()
        except redis.RedisError:
            pass
