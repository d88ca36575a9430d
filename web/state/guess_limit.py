"""Limiting friend-code guesses, per signed-in person and per address, in Redis.

A friend code has 50 bits, so guessing is hopeless anyway; the limit keeps a script from
trying, and keeps the database out of it. When Redis does not answer, guesses are let
through: the codes stay unguessable, and the page keeps working.

The counts key on what a client cannot choose: the signed-in person's id (not the session,
whose CSRF token a replayed sign-in cookie renews) and the peer address (not a header,
unless a trusted proxy set it: ``web/http/client_address.py``).
"""

from __future__ import annotations

import contextlib

import redis

from config.redis_ref import RedisRef

# At most this many wrong codes per window for one person, and for one address (higher:
# people behind one NAT share an address, and one of them must not lock out the others).
MAX_FAILURES = 20
MAX_ADDRESS_FAILURES = 100
WINDOW_S = 600


# Takes one guess from the count at KEYS[1] (its window starting with the first): 1 while
# the count is within ARGV[1], else 0. One script, so that simultaneous guesses cannot all
# read a count below the limit before any of them adds to it.
_TAKE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return 0 end
return 1
"""
# Gives a guess back, unless its window has ended meanwhile (a DECR would then make a
# count of -1 that never expires).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
"""


class GuessGuard:
    """Counts friend-code guesses and says when to stop accepting more.

    A guess is taken from the count before the code is looked up, and given back when
    the code was right: only wrong codes stay counted, and a burst cannot overrun the
    limit. A signed-in person's own count decides for them; a signed-out visitor's,
    their address's (so an anonymous flood from a shared address never locks out the
    people signed in behind it).
    """

    def __init__(self, ref: RedisRef | None) -> None:
        self.ref = ref

    @staticmethod
    def user_key(ref: RedisRef, user_id: int) -> str:
        """The key counting one person's wrong codes (deleted with the person)."""
        return ref.key("guesses", "user", str(user_id))

    @staticmethod
    def _key_and_limit(ref: RedisRef, user_id: int | None, address: str) -> tuple[str, int]:
        if user_id is not None:
            return GuessGuard.user_key(ref, user_id), MAX_FAILURES
        return ref.key("guesses", "addr", address), MAX_ADDRESS_FAILURES

    def take(self, user_id: int | None, address: str) -> bool:
        """Take one guess: False when this person (or signed-out address) has guessed
        wrong too often lately. Give it back with ``give_back`` when the code was right."""
        if self.ref is None:
            return True
        key, limit = self._key_and_limit(self.ref, user_id, address)
        try:
            return bool(self.ref.client.eval(_TAKE, 1, key, limit, WINDOW_S))
        except redis.RedisError:
            return True

    def give_back(self, user_id: int | None, address: str) -> None:
        """Return the guess a right code took."""
        if self.ref is None:
            return
        key, _ = self._key_and_limit(self.ref, user_id, address)
        with contextlib.suppress(redis.RedisError):
            self.ref.client.eval(_GIVE_BACK, 1, key)
