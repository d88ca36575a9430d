"""The web's and the scheduler's clock against Redis's, as the workers' is (``ops.clock``).

A worker compares its clock with Redis's in its ``QueuePause`` middleware. A web process
and the scheduler have no middleware of the kind, so each runs a ``ClockWatch``: a thread
that compares when the process starts and every minute after, and so corrects
``models.db.utcnow`` (and ``shared_time``) by the offset measured. Every stamp such a
process writes or compares (sessions, job rows, ETAs, the lease's stamps, retention's
cut-offs) is then on Redis's clock, however far off its host's is.

What a clock further than ``MAX_SKEW`` off means depends on the process: the web's stamps
are corrected and it goes on serving; the scheduler sends no tick (periodiq fires on the
host's clock, actors/scheduled_actor.py). Either says so in its log once per change, and
reports its clock in Redis (a field per process, good on Redis's clock for three checks),
which the dashboard and ``/metrics`` read (``process_clocks``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass

import redis

from config.redis_ref import RedisRef
from ops.clock import CHECK_EVERY, RedisClock, describe_offset

log = logging.getLogger(__name__)

# A report not refreshed for this many checks belongs to a process that is gone.
REPORT_CHECKS = 3

# The one watch of this process (the scheduler's tick sender asks it), once started.
_watches: list[ClockWatch] = []


@dataclass(frozen=True)
class ProcessClock:
    """A web or scheduler process's clock, as it last reported it."""

    id: str
    role: str
    offset: float | None
    skewed: bool
    # What the process does while its clock is skewed, in words.
    meaning: str = ""

    @property
    def clock(self) -> str:
        """Its clock against Redis's, in words (with what the skew means, if it is skewed)."""
        words = describe_offset(self.offset)
        return f"{words}: {self.meaning}" if self.skewed and self.meaning else words


def reports_key(ref: RedisRef) -> str:
    """The hash of the processes' clock reports, by process id."""
    return ref.key("ops", "clocks")


def write_report(ref: RedisRef, report: ProcessClock, expires_at: float) -> None:
    """Write a process's report, good until ``expires_at`` (epoch seconds on Redis's clock,
    so that no host's clock decides which reports are alive)."""
    data = {"id": report.id, "role": report.role, "offset": report.offset}
    data |= {"skewed": report.skewed, "meaning": report.meaning, "expires_at": expires_at}
    ref.client.hset(reports_key(ref), report.id, json.dumps(data))


def process_clocks(ref: RedisRef) -> list[ProcessClock]:
    """The web and scheduler processes whose report has not expired, by role and id; the
    expired ones (processes gone) are removed."""
    with ref.client.pipeline(transaction=False) as pipe:
        pipe.hgetall(reports_key(ref))
        pipe.time()
        raw, (seconds, micros) = pipe.execute()
    reports = [json.loads(data) for data in raw.values()]
    gone = [r["id"] for r in reports if r["expires_at"] <= seconds + micros / 1e6]
    if gone:
        ref.client.hdel(reports_key(ref), *gone)
    clocks = [
        ProcessClock(r["id"], r["role"], r["offset"], bool(r["skewed"]), r["meaning"])
        for r in reports
        if r["id"] not in gone
    ]
    return sorted(clocks, key=lambda c: (c.role, c.id))


class ClockWatch:
    """One process's clock against Redis's: compared at start and every ``check_every``."""

    def __init__(
        self,
        ref: RedisRef,
        role: str,
        meaning: str,
        *,
        clock: RedisClock | None = None,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self.ref = ref
        self.role = role
        self.meaning = meaning
        self.clock = clock or RedisClock()
        self.check_every = check_every
        self.id = f"{role}:{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def skewed(self) -> bool:
        """Whether the last comparison found this clock further than ``MAX_SKEW`` off."""
        return self.clock.skewed

    def check(self) -> bool:
        """Compare once, say it in the log if that changes ``skewed``, and report it;
        whether Redis answered (if not, the last comparison stands)."""
        was = self.skewed
        try:
            self.clock.measure(self.ref)
            report = ProcessClock(self.id, self.role, self.clock.offset, self.skewed, self.meaning)
            write_report(self.ref, report, self.clock.now() + REPORT_CHECKS * self.check_every)
        except redis.RedisError as error:
            log.warning("the %s could not compare its clock with Redis's: %s", self.role, error)
            return False
        if self.skewed and not was:
            log.warning(
                "the %s's host clock is %s (more than %.0f s): %s until it is set right (NTP)",
                self.role, self.clock.describe(), self.clock.max_skew, self.meaning,
            )  # fmt: skip
        elif was and not self.skewed:
            log.warning("the %s's host clock is %s again", self.role, self.clock.describe())
        return True

    def start(self, *, wait: bool = True) -> ClockWatch:
        """Compare now (in the caller's thread when ``wait``, else in the watch's own) and
        every ``check_every`` after, in a daemon thread; it becomes the process's watch."""
        if wait:
            self.check()
        self._thread = threading.Thread(
            target=self._run, args=(not wait,), name="clock-watch", daemon=True
        )
        self._thread.start()
        _watches[:] = [self]
        return self

    def stop(self) -> None:
        """Stop comparing (tests; a process's watch otherwise lives as long as it)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if _watches == [self]:
            _watches.clear()

    def _run(self, check_first: bool) -> None:
        if check_first:
            self.check()
        while not self._stopping.wait(self.check_every):
            self.check()


def process_clock_skewed() -> bool:
    """Whether this process's watch (if it runs one) finds its clock too far off."""
    return bool(_watches) and _watches[0].skewed
