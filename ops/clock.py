"""This process's clock against Redis's: the one clock every host of an overlap shares.

Dramatiq's Redis broker stamps each worker's heartbeat with the worker's own clock and, on
25 % of its calls, counts as dead every worker whose stamp is older than the heartbeat
timeout, and takes their messages. So a host whose clock runs ahead sees every other
worker as dead and takes the messages they are running; one that runs behind looks dead
to the others. A worker therefore compares its clock with Redis's ``TIME`` when it starts
and every minute (``actors.middleware.queue_pause``), and fetches nothing while they
differ by more than ``MAX_SKEW``. Web processes and the scheduler measure theirs the same
way, in a thread (``ops.clock_watch``); a scheduler further off sends no tick.

The offset measured is also what the worker's own timestamps add to the host clock
(``models.db.utcnow``), so that job heartbeats, the crash recovery, the retention and the
worker list compare stamps of one clock whichever host wrote them. One ``TIME`` a minute
is the whole cost: no message waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from config.redis_ref import RedisRef
from models.db import set_clock_offset

# A worker whose clock is further than this from Redis's fetches nothing (issue 21). Its
# Dramatiq heartbeats are stamped on the corrected clock either way (actors/broker.py),
# so a smaller offset never makes a live worker look dead against the 5 s timeout.
MAX_SKEW = 5.0
# A smaller offset is not corrected (seconds).
TRUSTED = 0.5
# How often a process compares its clock with Redis's (seconds).
CHECK_EVERY = 60.0


class RedisClock:
    """The offset of this host's clock from Redis's, measured with ``TIME``."""

    def __init__(
        self, max_skew: float = MAX_SKEW, host_time: Callable[[], float] = time.time
    ) -> None:
        self.max_skew = max_skew
        self.host_time = host_time
        # Redis's time minus this host's, in seconds; None until measured. Give or take
        # the uncertainty: half the round trip of that measure.
        self.offset: float | None = None
        self.uncertainty = 0.0

    def measure(self, ref: RedisRef) -> float:
        """Ask Redis for its time and keep the offset (the round trip's midpoint is taken
        as the moment Redis read its clock); the offset also corrects ``utcnow``."""
        sent = self.host_time()
        seconds, micros = ref.client.time()
        received = self.host_time()
        self.offset = seconds + micros / 1e6 - (sent + received) / 2
        # Redis read its clock somewhere in the round trip: the offset is known only to
        # within half of it (seconds on a loaded machine), so only what is off beyond that
        # counts, and a slow answer never holds a worker whose clock is right.
        self.uncertainty = (received - sent) / 2
        # Corrected however far off: a worker that stops fetching still finishes what it
        # runs, and those jobs' heartbeats and ends must not look stale (or fresh) to others.
        # An offset under TRUSTED is within what a round trip can tell (and far under any
        # timeout here): the host's clock, kept by NTP, is left as it is.
        set_clock_offset(self.offset if self._beyond(TRUSTED) else 0.0)
        return self.offset

    def _beyond(self, seconds: float) -> bool:
        """Whether the clock is surely further than ``seconds`` from Redis's."""
        return self.offset is not None and abs(self.offset) - self.uncertainty > seconds

    @property
    def skewed(self) -> bool:
        """Whether the last measure found this clock further than ``max_skew`` from Redis's."""
        return self._beyond(self.max_skew)

    def now(self) -> float:
        """Epoch seconds by Redis's clock (this host's until the first measure)."""
        return self.host_time() + (self.offset or 0.0)

    def describe(self) -> str:
        """The offset in words, as the log and the dashboard say it."""
        return describe_offset(self.offset)


def describe_offset(offset: float | None) -> str:
    """A clock's offset from Redis's (Redis's minus the host's) in words."""
    if offset is None:
        return "not compared with Redis's yet"
    way = "ahead of" if offset < 0 else "behind"
    return f"{abs(offset):.1f} s {way} Redis's"
