"""The gate's slot of the next request in a line of requests that come one after the other,
taken while the current one is in flight.

A person's followed artists can only be read along their cursor: each page's request waits
for the last one's answer. Each also waited for its own slot at the gate (``SpotifyGate``):
a round trip to Redis, and after a wait for the slot a second one, to see a 429's pause
another host began meanwhile. Between hosts each round trip costs the link's delay twice,
and on the rig, 20 ms from ``data``, those two were 80 ms of each page: the cursor, not
the rate, set the pace of a large followed list (issue 21 b, ``bench/distance_sync.py``).

``SlotAhead`` takes the next request's slot on a thread of its own, with the usual waits
(the slot, the pause's look after a wait), while the current request is in flight; the
next request then goes as soon as the answer is in. It takes one only while ``more()``
says another request will come, so a line that ends gives up no slot it knew it would not
use.

A slot is a promise to send at its time: sent much later, requests bunch up, and a window
may hold more than the rate allows. So a slot taken ahead is used only up to ``LATE_S``
after its time; later, it is let go, a slot is taken the usual way, and the line takes no
more ahead. Most often Spotify answered slowly, and then its answers are slow enough to
hide the round trips themselves; a page asked again after a failure, or a reader held by
slow stores, also ends the line's slots ahead (a little speed lost, never a request early).
A slot let go is given back to the gate's counters (one round trip), which count requests
sent, not slots taken: it spends none of the day's budget.

A slot ahead waits at most ``WAIT_S`` (a longer pause or a far slot is met the usual way,
in the caller's thread, when the request is made).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import redis

from spotify.gate import Slot, SpotifyGate

log = logging.getLogger(__name__)

# A slot ahead is used at most this long after its time: the gate's headroom leaves 0.6 s
# of slack in each 30 s window, of which this is a third.
LATE_S = 0.2
# The longest a slot ahead waits for its time or through a pause.
WAIT_S = 1.0


class SlotAhead:
    """The slots of one thread's line of requests on one lane of the gate."""

    def __init__(self, gate: SpotifyGate, lane: str, more: Callable[[], bool]) -> None:
        self._gate = gate
        self._lane = lane
        self._more = more
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="slot-ahead")
        self._next: Future[Slot] | None = None
        self._slow = False
        self.given_up = 0  # slots taken ahead and let go (late, or the line ended)

    def before_request(self) -> float:
        """The slot of the request about to be made (the one taken ahead when it is
        still good), and the next one's taken ahead when another request will come."""
        slot = self._taken_ahead()
        if slot is None:
            slot = self._gate.before_request(self._lane)
        if not self._slow and self._more():
            self._next = self._pool.submit(self._gate.reserve, self._lane, WAIT_S)
        return slot

    def _taken_ahead(self) -> float | None:
        taken, self._next = self._next, None
        if taken is None:
            return None
        try:
            slot = taken.result()
        except Exception:  # a far slot, a long pause, Redis: asked again the usual way
            return None
        if self._gate.now() - slot.at > LATE_S:
            self._slow = True
            self._give_back(slot)
            return None
        return slot.at

    def _give_back(self, slot: Slot) -> None:
        """Let ``slot`` go: the gate counts it as no request (a request counted that was
        never sent would spend the day's budget and show on the dashboard). Redis failing
        here leaves that count one too high, and ends nothing: the request goes on the
        usual way, and a line ending for another reason ends with that reason."""
        self.given_up += 1
        try:
            self._gate.give_back(self._lane, slot)
        except redis.RedisError as error:
            log.warning("a slot taken ahead and not used stays counted: %s", error)

    def close(self) -> None:
        """End the line: a slot still being taken is let go."""
        try:
            taken = self._next
            if taken is not None and not taken.cancel() and taken.exception() is None:
                self._give_back(taken.result())
        finally:
            self._next = None
            self._pool.shutdown(wait=True)
