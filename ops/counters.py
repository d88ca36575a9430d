"""Counts of processed messages per actor, per minute and in total, kept in Redis.

Tracked jobs have a ``job_runs`` row; the many tiny ones (an ``update_artist`` that finds
its artist up to date) must not pay a database write each. So every worker process counts
what it processed in memory (``CounterBuffer``) and adds the counts to Redis once a second
in one pipeline (see ``actors.middleware.job_counters``): a hash per minute, kept about two
hours, for the dashboard's chart, and a hash of running totals, never reset, for the
Prometheus counters of ``/metrics``.

Each hash field is ``<actor>|<status>`` (a message count) or ``<actor>|duration_ms`` (the
milliseconds its messages took, whatever their outcome). Both also hold
``<actor>|le_ms:<bound>``: how many of its messages took at most ``bound`` milliseconds and
more than the bound below it (``DURATION_BUCKETS_MS``): the totals for the duration
histogram of ``/metrics``, the minutes for the dashboard's percentiles of the last hour
(``durations``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import redis

from config.redis_ref import RedisRef, text
from models.db import shared_time

SUCCEEDED, FAILED, RETRIED, SKIPPED = "succeeded", "failed", "retried", "skipped"
# Failed: given up on (the message went to the dead-letter queue). Retried: failed this
# time and sent again later. Skipped: a middleware declined it (a duplicate delivery of a
# tracked job, a periodic tick that waited too long).
STATUSES = (SUCCEEDED, FAILED, RETRIED, SKIPPED)
DURATION = "duration_ms"
# The upper bounds (ms) of the duration histogram's buckets. The jobs span six orders of
# magnitude: an update_artist that finds its artist up to date takes about 5 ms, one that
# reads the artist's page 100 ms to a few seconds (more while the gate spaces requests),
# an update_user of a large library minutes, and 30 minutes is the time limit of
# update_user and refresh_listeners. Steps of 2 to 3 keep a percentile read from the
# buckets within that factor at every scale, in 17 series per actor. The bounds name Redis
# fields that only grow: a bound taken out leaves its counts to the +Inf bucket alone.
DURATION_BUCKETS_MS = (
    5, 10, 25, 50, 100, 250, 500,
    1_000, 2_500, 5_000, 10_000, 30_000,
    60_000, 120_000, 300_000, 600_000, 1_800_000,
)  # fmt: skip
BUCKET = "le_ms:"
# The chart shows up to two hours; a minute's hash lives a little longer, so the oldest
# minute shown is always whole.
MAX_MINUTES = 120
MINUTE_TTL = MAX_MINUTES * 60 + 600
# The same counts by the hour, for the charts of the last day and week: kept 8 days, so
# the oldest hour of the week is always whole.
MAX_HOURS = 7 * 24
HOUR_TTL = (MAX_HOURS + 24) * 3600
# ``queue:<queue>|taken``: the messages taken off a queue (whatever their outcome), for its
# time to empty. A field of its own: the actors' counts never read it.
QUEUE_FIELD = "queue:"
TAKEN = "taken"


def minute_key(ref: RedisRef, minute: int) -> str:
    """The hash of one minute's counts (``minute``: epoch seconds // 60)."""
    return ref.key("ops", "jobs", "minute", minute)


def hour_key(ref: RedisRef, hour: int) -> str:
    """The hash of one hour's counts (``hour``: epoch seconds // 3600)."""
    return ref.key("ops", "jobs", "hour", hour)


def totals_key(ref: RedisRef) -> str:
    """The hash of the running totals."""
    return ref.key("ops", "jobs", "total")


@dataclass
class JobCounts:
    """Messages of one actor (or of all) by outcome, and the time they took.

    ``by_bucket`` maps a bound of ``DURATION_BUCKETS_MS`` to the
    messages that took at most that long and more than the bound below it.
    """

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    duration_ms: int = 0
    by_bucket: dict[int, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        """Every message counted, whatever its outcome."""
        return self.succeeded + self.failed + self.retried + self.skipped

    def add(self, other: JobCounts) -> None:
        """Add ``other``'s counts to these."""
        for name in (*STATUSES, DURATION):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for bound, count in other.by_bucket.items():
            self.by_bucket[bound] = self.by_bucket.get(bound, 0) + count

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """(upper bound in seconds, messages that took at most that long), ending with
        (inf, every message): the buckets of a Prometheus histogram.

        Messages counted before the buckets were (a version that had none) count in the
        last bucket only, which is all that is known of them.
        """
        out, running = [], 0
        for bound in DURATION_BUCKETS_MS:
            running += self.by_bucket.get(bound, 0)
            out.append((bound / 1000, running))
        # A scrape between a flush's counts and its buckets must not see fewer in +Inf.
        out.append((float("inf"), max(running, self.processed)))
        return out


@dataclass(frozen=True)
class MinuteCounts:
    """One minute (or hour) of the chart: all actors together, each actor, each queue."""

    minute: dt.datetime  # when it starts (an hour's, in the hourly series)
    total: JobCounts
    by_actor: dict[str, JobCounts] = field(default_factory=dict)
    by_queue: dict[str, int] = field(default_factory=dict)  # messages taken off each queue

    @property
    def finished(self) -> int:
        """Messages that ran to an end (succeeded or failed for good)."""
        return self.total.succeeded + self.total.failed

    @property
    def failed(self) -> int:
        """Failed tries: messages that failed (for good, or to be retried)."""
        return self.total.failed + self.total.retried

    @property
    def charted(self) -> int:
        """What the chart stacks: the messages that succeeded and the failed tries."""
        return self.total.succeeded + self.failed


class CounterBuffer:
    """Counts gathered in one process between flushes; safe to share between threads.

    ``record`` is on the path of every message, so it does the least it can: one
    uncontended lock, one dict entry per (minute, actor, status) and one per (minute,
    actor, duration bucket).
    """

    def __init__(self, clock: Callable[[], float] = shared_time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # (minute, actor, status) -> [messages, milliseconds]
        self._pending: dict[tuple[int, str, str], list[int]] = {}
        # (minute, actor, bucket bound in ms) -> messages
        self._buckets: dict[tuple[int, str, int], int] = {}
        # (minute, queue) -> messages taken off it
        self._queues: dict[tuple[int, str], int] = {}

    def record(self, actor: str, status: str, duration_ms: int, queue: str | None = None) -> None:
        """Count one message of ``actor`` that ended with ``status`` after ``duration_ms``
        (and one taken off ``queue``, for the queue's rate)."""
        minute = int(self._clock()) // 60
        key = (minute, actor, status)
        index = bisect.bisect_left(DURATION_BUCKETS_MS, duration_ms)
        bucket = (
            (minute, actor, DURATION_BUCKETS_MS[index])
            if index < len(DURATION_BUCKETS_MS)
            else None
        )
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = [1, duration_ms]
            else:
                entry[0] += 1
                entry[1] += duration_ms
            # Longer than the last bound: in no bucket but +Inf, which is the message count.
            if bucket is not None:
                self._buckets[bucket] = self._buckets.get(bucket, 0) + 1
            if queue is not None:
                self._queues[(minute, queue)] = self._queues.get((minute, queue), 0) + 1

    def flush(self, ref: RedisRef) -> int:
        """Add the counts gathered so far to Redis in one pipeline; returns the fields sent.

        When Redis cannot be reached the counts are kept for the next flush and the error
        is raised.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
            buckets, self._buckets = self._buckets, {}
            queues, self._queues = self._queues, {}
        if not pending:
            return 0
        fields: dict[tuple[int, str], int] = defaultdict(int)
        for (minute, actor, status), (count, ms) in pending.items():
            fields[(minute, f"{actor}|{status}")] += count
            fields[(minute, f"{actor}|{DURATION}")] += ms
        # After the counts, so that a reader never sees more in the buckets.
        for (minute, actor, bound), amount in buckets.items():
            fields[(minute, f"{actor}|{BUCKET}{bound}")] += amount
        try:
            _write(ref, fields, queues)
        except redis.RedisError:
            self._keep(pending, buckets, queues)
            raise
        return len(fields) + len(queues)

    def _keep(
        self,
        pending: dict[tuple[int, str, str], list[int]],
        buckets: dict[tuple[int, str, int], int],
        queues: dict[tuple[int, str], int],
    ) -> None:
        """Put back counts a flush could not send, for the next one."""
        with self._lock:
            for key, (count, ms) in pending.items():
                entry = self._pending.setdefault(key, [0, 0])
                entry[0] += count
                entry[1] += ms
            for bucket, count in buckets.items():
                self._buckets[bucket] = self._buckets.get(bucket, 0) + count
            for taken, count in queues.items():
                self._queues[taken] = self._queues.get(taken, 0) + count


def _write(
    ref: RedisRef, fields: dict[tuple[int, str], int], queues: dict[tuple[int, str], int]
) -> None:
    """Add counts to their minute's and hour's hashes and (an actor's) to the totals."""
    with ref.client.pipeline(transaction=False) as pipe:
        for (minute, name), amount in fields.items():
            pipe.hincrby(minute_key(ref, minute), name, amount)
            pipe.hincrby(hour_key(ref, minute // 60), name, amount)
            pipe.hincrby(totals_key(ref), name, amount)
        for (minute, queue), amount in queues.items():
            pipe.hincrby(minute_key(ref, minute), f"{QUEUE_FIELD}{queue}|{TAKEN}", amount)
            pipe.hincrby(hour_key(ref, minute // 60), f"{QUEUE_FIELD}{queue}|{TAKEN}", amount)
        for minute in {minute for minute, _ in fields}:
            pipe.expire(minute_key(ref, minute), MINUTE_TTL)
            pipe.expire(hour_key(ref, minute // 60), HOUR_TTL)
        pipe.execute()


def jobs_per_minute(
    ref: RedisRef, minutes: int = 60, now: float | None = None
) -> list[MinuteCounts]:
    """The last ``minutes`` minutes (at most two hours), oldest first, ending with this one.

    Minutes with nothing processed are there with zeros, so a chart has no gaps.
    """
    minutes = max(1, min(minutes, MAX_MINUTES))
    last = int(shared_time() if now is None else now) // 60
    span = range(last - minutes + 1, last + 1)
    return _series(ref, [(minute_key(ref, m), m * 60) for m in span])


def jobs_per_hour(ref: RedisRef, hours: int = 24, now: float | None = None) -> list[MinuteCounts]:
    """The last ``hours`` hours (at most a week), oldest first, ending with this one."""
    hours = max(1, min(hours, MAX_HOURS))
    last = int(shared_time() if now is None else now) // 3600
    span = range(last - hours + 1, last + 1)
    return _series(ref, [(hour_key(ref, h), h * 3600) for h in span])


# KEYS: hashes of counts. Sums them in Redis, so that a week of hours is one small reply:
# each hash's messages that succeeded, failed and were retried (all actors), then every
# field summed over all of them, as name, value pairs.
_SUM = """
local sums, out = {}, {}
for k = 1, #KEYS do
  local fields = redis.call('HGETALL', KEYS[k])
  local succeeded, failed, retried = 0, 0, 0
  for i = 1, #fields, 2 do
    local name, value = fields[i], tonumber(fields[i + 1])
    sums[name] = (sums[name] or 0) + value
    local what = string.match(name, '|([^|]*)$')
    if what == 'succeeded' then succeeded = succeeded + value
    elseif what == 'failed' then failed = failed + value
    elseif what == 'retried' then retried = retried + value end
  end
  out[#out + 1] = succeeded
  out[#out + 1] = failed
  out[#out + 1] = retried
end
for name, value in pairs(sums) do
  out[#out + 1] = name
  out[#out + 1] = value
end
return out
"""


@dataclass(frozen=True)
class SpanCounts:
    """A chart's buckets over a span, and each actor's durations over the whole span."""

    buckets: list[MinuteCounts]
    durations: list[Durations]


# The charts' ranges: per minute over the last hour, per hour over the last day or week.
RANGES = {"1h": 60, "24h": 24, "7d": MAX_HOURS}


def jobs_over(ref: RedisRef, span: str, now: float | None = None) -> SpanCounts:
    """The counts over one of ``RANGES`` (per minute over the last hour, per hour over a day
    or a week), summed in Redis: all actors per bucket, each actor's durations over the
    span."""
    size = 60 if span == "1h" else 3600
    key = minute_key if span == "1h" else hour_key
    last = int(shared_time() if now is None else now) // size
    starts = range(last - RANGES[span] + 1, last + 1)
    reply = ref.client.register_script(_SUM)(keys=[key(ref, n) for n in starts])
    buckets = []
    for i, start in enumerate(starts):
        succeeded, failed, retried = (int(n) for n in reply[3 * i : 3 * i + 3])
        when = dt.datetime.fromtimestamp(start * size, tz=dt.UTC)
        total = JobCounts(succeeded=succeeded, failed=failed, retried=retried)
        buckets.append(MinuteCounts(minute=when, total=total))
    pairs = reply[3 * len(starts) :]
    summed = _by_actor(dict(zip(pairs[::2], pairs[1::2], strict=True)))
    return SpanCounts(buckets, durations_of(summed))


def _series(ref: RedisRef, keys: list[tuple[str, int]]) -> list[MinuteCounts]:
    """The counts of each (hash, start in epoch seconds), in one round trip."""
    with ref.client.pipeline(transaction=False) as pipe:
        for key, _ in keys:
            pipe.hgetall(key)
        replies = pipe.execute()
    out = []
    for (_, start), raw in zip(keys, replies, strict=True):
        by_actor = _by_actor(raw)
        total = JobCounts()
        for counts in by_actor.values():
            total.add(counts)
        when = dt.datetime.fromtimestamp(start, tz=dt.UTC)
        out.append(
            MinuteCounts(minute=when, total=total, by_actor=by_actor, by_queue=_by_queue(raw))
        )
    return out


def _by_queue(raw: Mapping[bytes | str, bytes | str]) -> dict[str, int]:
    """Messages taken off each queue, from a hash's ``queue:<queue>|taken`` fields."""
    out = {}
    for name, value in raw.items():
        field_name = text(name)
        if field_name.startswith(QUEUE_FIELD) and field_name.endswith(f"|{TAKEN}"):
            out[field_name[len(QUEUE_FIELD) : -len(TAKEN) - 1]] = int(value)
    return out


def queue_rates(minutes: list[MinuteCounts], last: int = 10) -> dict[str, float]:
    """Messages taken off each queue per minute, over the ``last`` whole minutes of a
    per-minute series (the current minute, still counting, left out)."""
    whole = minutes[-last - 1 : -1]
    totals: dict[str, int] = defaultdict(int)
    for minute in whole:
        for queue, n in minute.by_queue.items():
            totals[queue] += n
    return {queue: n / max(len(whole), 1) for queue, n in totals.items()}


@dataclass(frozen=True)
class Durations:
    """One actor's message durations over a span: how many, and three percentiles (ms)."""

    actor: str
    count: int
    p50: float
    p95: float
    p99: float


def durations(minutes: list[MinuteCounts]) -> list[Durations]:
    """Each actor's p50, p95 and p99 over ``minutes`` (from ``jobs_per_minute``), read
    from the duration buckets as Prometheus's ``histogram_quantile`` does: linearly within
    the bucket the rank falls in, so each is within that bucket's factor of 2 to 3.

    Minutes counted by a version that kept no buckets per minute read as beyond the last
    bound (as ``cumulative_buckets`` says); they leave the span within the hour.
    """
    summed: dict[str, JobCounts] = {}
    for minute in minutes:
        for actor, counts in minute.by_actor.items():
            summed.setdefault(actor, JobCounts()).add(counts)
    return durations_of(summed)


def durations_of(summed: Mapping[str, JobCounts]) -> list[Durations]:
    """Each actor's p50, p95 and p99 from its counts summed over a span."""
    out = []
    for actor, counts in sorted(summed.items()):
        if counts.processed == 0:
            continue
        cumulative = counts.cumulative_buckets()
        out.append(
            Durations(
                actor,
                counts.processed,
                *(_quantile(q, cumulative) for q in (0.5, 0.95, 0.99)),
            )
        )
    return out


def _quantile(q: float, cumulative: list[tuple[float, int]]) -> float:
    """The ``q`` quantile in ms of cumulative (bound in s, count) buckets ending with inf."""
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound * 1000  # beyond the last bound: all that is known
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return (lower_bound + (bound - lower_bound) * share) * 1000
        lower_bound, lower_count = bound, count
    return lower_bound * 1000


def job_totals(ref: RedisRef) -> dict[str, JobCounts]:
    """Every actor's counts since the counters began (they only grow)."""
    return _by_actor(ref.client.hgetall(totals_key(ref)))


def _by_actor(raw: Mapping[bytes | str, bytes | str]) -> dict[str, JobCounts]:
    """Counts by actor from a hash of ``<actor>|<status>`` fields."""
    out: dict[str, JobCounts] = {}
    for name, value in raw.items():
        actor, _, what = text(name).rpartition("|")
        if what in STATUSES or what == DURATION:
            counts = out.setdefault(actor, JobCounts())
            setattr(counts, what, getattr(counts, what) + int(value))
        elif what.startswith(BUCKET):
            bound = int(what.removeprefix(BUCKET))
            counts = out.setdefault(actor, JobCounts())
            counts.by_bucket[bound] = counts.by_bucket.get(bound, 0) + int(value)
    return dict(sorted(out.items()))
