"""Counts of processed messages per actor, per minute and in total, kept in Redis.

Tracked jobs have a ``job_runs`` row; the many tiny ones (an ``update_artist`` that finds
its artist up to date) must not pay a database write each. So every worker process counts
what it processed in memory (``CounterBuffer``) and adds the counts to Redis once a second
in one pipeline (see ``actors.middleware.job_counters``): a hash per minute, kept about two
hours, for the dashboard's chart, and a hash of running totals, never reset, for the
Prometheus counters of ``/metrics``.

Each hash field is ``<actor>|<status>`` (a message count) or ``<actor>|duration_ms`` (the
milliseconds its messages took, whatever their outcome).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import redis

from config.redis_ref import RedisRef, text

SUCCEEDED, FAILED, RETRIED, SKIPPED = "succeeded", "failed", "retried", "skipped"
# Failed: given up on (the message went to the dead-letter queue). Retried: failed this
# time and sent again later. Skipped: a middleware declined it (a duplicate delivery of a
# tracked job, a periodic tick that waited too long).
STATUSES = (SUCCEEDED, FAILED, RETRIED, SKIPPED)
DURATION = "duration_ms"
# The chart shows up to two hours; a minute's hash lives a little longer, so the oldest
# minute shown is always whole.
MAX_MINUTES = 120
MINUTE_TTL = MAX_MINUTES * 60 + 600


def minute_key(ref: RedisRef, minute: int) -> str:
    """The hash of one minute's counts (``minute``: epoch seconds // 60)."""
    return ref.key("ops", "jobs", "minute", minute)


def totals_key(ref: RedisRef) -> str:
    """The hash of the running totals."""
    return ref.key("ops", "jobs", "total")


@dataclass
class JobCounts:
    """Messages of one actor (or of all) by outcome, and the time they took."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    duration_ms: int = 0

    @property
    def processed(self) -> int:
        """Every message counted, whatever its outcome."""
        return self.succeeded + self.failed + self.retried + self.skipped

    def add(self, other: JobCounts) -> None:
        """Add ``other``'s counts to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True)
class MinuteCounts:
    """One minute of the chart: all actors together, and each actor."""

    minute: dt.datetime
    total: JobCounts
    by_actor: dict[str, JobCounts] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        """Messages that ran to an end (succeeded or failed for good)."""
        return self.total.succeeded + self.total.failed

    @property
    def failed(self) -> int:
        """Messages that failed (for good, or to be retried)."""
        return self.total.failed + self.total.retried


class CounterBuffer:
    """Counts gathered in one process between flushes; safe to share between threads.

    ``record`` is on the path of every message, so it does the least it can: one
    uncontended lock and one dict entry per (minute, actor, status).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # (minute, actor, status) -> [messages, milliseconds]
        self._pending: dict[tuple[int, str, str], list[int]] = {}

    def record(self, actor: str, status: str, duration_ms: int) -> None:
        """Count one message of ``actor`` that ended with ``status`` after ``duration_ms``."""
        key = (int(self._clock()) // 60, actor, status)
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = [1, duration_ms]
            else:
                entry[0] += 1
                entry[1] += duration_ms

    def flush(self, ref: RedisRef) -> int:
        """Add the counts gathered so far to Redis in one pipeline; returns the fields sent.

        When Redis cannot be reached the counts are kept for the next flush and the error
        is raised.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        fields: dict[tuple[int, str], int] = defaultdict(int)
        for (minute, actor, status), (count, ms) in pending.items():
            fields[(minute, f"{actor}|{status}")] += count
            fields[(minute, f"{actor}|{DURATION}")] += ms
        try:
            with ref.client.pipeline(transaction=False) as pipe:
                for (minute, name), amount in fields.items():
                    pipe.hincrby(minute_key(ref, minute), name, amount)
                    pipe.hincrby(totals_key(ref), name, amount)
                for minute in {minute for minute, _ in fields}:
                    pipe.expire(minute_key(ref, minute), MINUTE_TTL)
                pipe.execute()
        except redis.RedisError:
            with self._lock:
                for key, (count, ms) in pending.items():
                    entry = self._pending.setdefault(key, [0, 0])
                    entry[0] += count
                    entry[1] += ms
            raise
        return len(fields)


def jobs_per_minute(
    ref: RedisRef, minutes: int = 60, now: float | None = None
) -> list[MinuteCounts]:
    """The last ``minutes`` minutes (at most two hours), oldest first, ending with this one.

    Minutes with nothing processed are there with zeros, so a chart has no gaps.
    """
    minutes = max(1, min(minutes, MAX_MINUTES))
    last = int(time.time() if now is None else now) // 60
    span = range(last - minutes + 1, last + 1)
    with ref.client.pipeline(transaction=False) as pipe:
        for minute in span:
            pipe.hgetall(minute_key(ref, minute))
        replies = pipe.execute()
    out = []
    for minute, raw in zip(span, replies, strict=True):
        by_actor = _by_actor(raw)
        total = JobCounts()
        for counts in by_actor.values():
            total.add(counts)
        when = dt.datetime.fromtimestamp(minute * 60, tz=dt.UTC)
        out.append(MinuteCounts(minute=when, total=total, by_actor=by_actor))
    return out


def job_totals(ref: RedisRef) -> dict[str, JobCounts]:
    """Every actor's counts since the counters began (they only grow)."""
    return _by_actor(ref.client.hgetall(totals_key(ref)))


def _by_actor(raw: dict[bytes, bytes]) -> dict[str, JobCounts]:
    """Counts by actor from a hash of ``<actor>|<status>`` fields."""
    out: dict[str, JobCounts] = {}
    for name, value in raw.items():
        actor, _, what = text(name).rpartition("|")
        if what in STATUSES or what == DURATION:
            counts = out.setdefault(actor, JobCounts())
            setattr(counts, what, getattr(counts, what) + int(value))
    return dict(sorted(out.items()))
