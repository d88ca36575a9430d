"""Spotify's two sign-in calls (the token for a code, then ``/me``), kept from tying up
the web process.

A sign-in is the one place a web thread waits on Spotify, and anyone can start one: each
``/login`` makes a valid ``state``, and a junk ``code`` still costs a token call. So:

- each call waits in the gate's sign-in lane (``spotify.gate``: a rate of its own, the Web
  API's pause, and a count toward the day's budget);
- each call gives up after ``TIMEOUT_S``;
- at most ``RUNNING`` sign-ins talk to Spotify at once in one process, and at most
  ``WAITING`` more wait up to ``WAIT_S`` for their turn; anyone else is told at once that
  sign-in is busy (``SignInBusy``). With gunicorn's 8 threads a process, 2 stay free for
  every other page however slow Spotify is.

When Redis does not answer, the calls go without the gate (the pages keep working without
Redis, and sign-in is a page): the timeout and the cap on running sign-ins still hold.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import requests

from config.settings import Settings
from spotify.client import SpotifyClient
from spotify.errors import SignInBusy
from spotify.gate import SIGN_IN, SpotifyGate
from spotify.oauth import TokenInfo, exchange_code

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
RUNNING, WAITING, WAIT_S = 4, 2, 1.0


class Turns:
    """At most ``running`` holders at once, at most ``waiting`` more waiting for a turn."""

    def __init__(self, running: int = RUNNING, waiting: int = WAITING) -> None:
        self.running_max = running
        self.waiting_max = waiting
        self.running = 0
        self.waiting = 0
        self._free = threading.Condition()

    @contextmanager
    def turn(self, wait_s: float = WAIT_S) -> Iterator[None]:
        """Hold a turn for the block; ``SignInBusy`` when none comes within ``wait_s``, or at
        once when the waiting line is full."""
        with self._free:
            if self.running >= self.running_max:
                if self.waiting >= self.waiting_max:
                    raise SignInBusy("every sign-in turn is taken and the line is full")
                self.waiting += 1
                try:
                    got = self._free.wait_for(lambda: self.running < self.running_max, wait_s)
                finally:
                    self.waiting -= 1
                if not got:
                    raise SignInBusy(f"no sign-in turn came within {wait_s:.1f}s")
            self.running += 1
        try:
            yield
        finally:
            with self._free:
                self.running -= 1
                self._free.notify()


class SignInCalls:
    """Trades a sign-in code for the token and the profile, within the limits above."""

    def __init__(self, settings: Settings, gate: SpotifyGate | None, turns: Turns) -> None:
        self.settings = settings.but(spotify_timeout=min(settings.spotify_timeout, TIMEOUT_S))
        self.gate = gate
        self.turns = turns
        self._sessions = threading.local()

    def profile_for(self, code: str) -> tuple[TokenInfo, dict[str, Any]]:
        """The token and profile Spotify gives for ``code``; Spotify's errors typed, and
        ``SignInBusy`` or ``RateLimited`` when sign-in must wait."""
        with self.turns.turn():
            gate = self._through_gate()
            token = exchange_code(self.settings, code, self._session())
            client = SpotifyClient(
                self.settings, token.access_token, self._session(), gate=gate, lane=SIGN_IN
            )
            return token, client.me()

    def _through_gate(self) -> SpotifyGate | None:
        """Wait for the token call's slot in the sign-in lane; the gate for the profile
        call, or None when Redis does not answer (the sign-in then goes without it)."""
        if self.gate is None:
            return None
        try:
            self.gate.before_request(SIGN_IN)
        except redis.RedisError as error:
            log.warning("sign-in goes without the shared gate, Redis did not answer: %s", error)
            return None
        return self.gate

    def _session(self) -> requests.Session:
        """This thread's HTTP session, so that sign-ins reuse their connections to Spotify."""
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session
