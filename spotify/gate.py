"""Spotify's limits, shared by every worker process and thread through Redis.

Two things per host kind (``api`` for the Web API, ``open`` for the artist pages):

**A rate limit.** Spotify counts requests in a rolling 30-second window, so we must never
send more than ``rate × window`` in *any* window, not just on average. Dramatiq's
``WindowRateLimiter`` was the first choice, but its source (dramatiq 2.2) rules it out:

- it admits an integer ``limit`` per whole-second ``window``, counted in one key per second of
  each process's own clock; 0.5/s or 2.5/s need a wider window, and each acquire WATCHes and
  MGETs every key of the window;
- it admits the whole ``limit`` as soon as a second starts: at (100, 1) the waiters fire the
  second's 100 requests within milliseconds of each tick, and a rolling 30 s window then
  overlaps 31 buckets, so it holds 3,000 plus a part of one more burst: 429s at the edge;
- it only answers yes or no, so waiters must poll; every admission breaks the WATCH of
  every other caller, whose transaction then retries, so the cost grows with the threads.

So the gate is a GCRA (generic cell rate algorithm) in one Lua script: Redis keeps each host's
"theoretical arrival time" (TAT), the earliest time of the next request. A caller atomically
takes the slot ``max(TAT, now)``, moves TAT one interval on, and sleeps until its slot. One
round trip per request and no polling; slots are handed out in order and never closer than
one interval, so any window of W seconds holds at most ``W × rate + 1`` requests. Time comes
from Redis (``TIME``), one clock for every process on every host.

**Headroom.** Spacing exactly 1/rate is not enough: request k and request k + 3,000 leave
30 s apart, but network and scheduling delays make about half of such pairs *arrive* less
than 30 s apart, and the 3,001st in Spotify's window is refused. Running ``HEADROOM`` (2 %)
under the configured rate leaves 0.6 s of slack per 30 s window for that jitter. Measured
against the demo Spotify at 3,000 per rolling 30 s, two processes of eight threads asking
for 100/s over 50 s: ``WindowRateLimiter(limit=100, window=1)`` drew 92 429s, this gate
without headroom 2, and with it none, at 97.9 requests/s (98.0/s and none over 90 s with
40 ms of latency added).

**Pauses.** A 429 pauses the host for every process: a key with the Retry-After as its
TTL, which a later, shorter Retry-After never shortens. A caller sleeps through a pause of at
most ``max_wait`` seconds, and otherwise raises ``RateLimited`` at once, so that a worker
thread is never held for long: the job layer puts the message back with a delay. The same
holds for a slot further away than ``max_wait`` (a queue of callers at a very low rate).
A caller that waited for its slot looks again for a pause begun meanwhile, if it waited
longer than ``PAUSE_LOOK_AFTER``: that look is a round trip, 40 ms between hosts 20 ms
apart, and a caller alone in its lane (a person's followed artists, read one page after
the other) waits up to one interval for each slot, so looking after every wait took 40 ms
of each page's time to catch a pause begun in the last 50 ms.

**Counters.** The scripts also count admitted requests and 429s in per-second keys that
expire after two minutes (plus a running total of 429s); ``stats()`` sums the last minute.
A slot taken but never used (given up for a pause begun during its wait, or taken ahead
and let go: ``spotify/slot_ahead.py``) is taken back out of them (``give_back``), so that
they, and the day's count below, count the requests sent.

**The day's budget.** Every admitted request is also counted in a key per UTC day (kept
three days), for all processes together. With ``SPOTIFY_DAILY_BUDGET`` set, a Web API
request past it raises ``BudgetSpent`` (a ``RateLimited`` until the next UTC day, so the
job layer defers the work as for a long 429); ``bulk_allowed()`` says whether bulk work
may still run: it stops at ``BULK_SHARE`` of the budget, so that people's own syncs keep
the rest.

**The sign-in lane.** The two calls of a sign-in (the token for the code, then ``/me``) pass
the lane ``sign-in``: a rate of its own (``SPOTIFY_SIGN_IN_RATE``), so that a flood of
sign-ins waits in its own line and never takes a slot the syncs would have had. They obey
the Web API's pause and count in its day, toward the budget; with a budget, they stop at
``BULK_SHARE`` of it as bulk work does, so that sign-ins (junk ones included) can never
spend what people's own syncs keep. The lane's rate adds to ``SPOTIFY_API_RATE``: the two
together must stay under Spotify's limit.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from config.redis_ref import RedisRef
from config.settings import Settings
from models.db import shared_time
from spotify.errors import BudgetSpent, RateLimited

log = logging.getLogger(__name__)

HOST_KINDS = ("api", "open")
# The sign-in calls' lane (see above): its own rate, the Web API's pause and day.
SIGN_IN = "sign-in"
LANES = (*HOST_KINDS, SIGN_IN)
# The host whose pause and day count each lane shares.
_HOST_OF = {"api": "api", "open": "open", SIGN_IN: "api"}
# The share of the configured rate we keep unused, as slack for arrival jitter (see above).
HEADROOM = 0.02
# A pause we sleep through is re-read this often, so that an extension by another process
# (a further 429) is seen.
PAUSE_STEP = 0.5
# A caller that waited longer than this for its slot looks again for a pause (see above).
PAUSE_LOOK_AFTER = 0.1
# Per-second counters live a little longer than the minute that stats() sums.
COUNTER_TTL = 120
# The per-day request counters are kept this long (today's, and a little of the past).
DAY_COUNTER_TTL = 3 * 86_400
# Bulk work (the monthly refresh) stops at this share of the day's budget: people's own
# syncs keep the rest.
BULK_SHARE = 0.8

_RESERVED, _PAUSED, _TOO_FAR, _SPENT = 0, 1, 2, 3

# KEYS: tat, pause, this second's request counter, today's request counter.
# ARGV: interval (µs), max wait (µs), counter TTL (s), today's limit (0: none), µs until the
# next UTC day, day counter TTL (s).
# Returns {status, µs}: reserved and the wait until the slot (then a third item, the slot
# in µs of Redis's clock), paused and the pause left, too far and the wait that would have
# been (nothing reserved then), or the day's budget spent and the wait until the next day.
_RESERVE = """
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {1, pause * 1000} end
local limit = tonumber(ARGV[4])
if limit > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= limit then
  return {3, tonumber(ARGV[5])}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
local wait = slot - now
if wait > tonumber(ARGV[2]) then return {2, wait} end
local tat = slot + tonumber(ARGV[1])
-- '%.0f' keeps all 16 digits of the microseconds; Lua's default would round to 14.
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('INCR', KEYS[4])
redis.call('EXPIRE', KEYS[4], ARGV[6])
return {0, wait, slot}
"""

# KEYS: the request counters a slot was counted in (its second's, the day's). Takes one
# request back from each, where it is above 0: a counter that expired meanwhile is not
# made again (below 0, and without its TTL).
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
"""

# KEYS: pause, this second's 429 counter, the 429 total. ARGV: pause (ms), counter TTL (s).
# Returns the pause left (ms) after the call.
_PAUSE = """
local wanted = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if wanted > left then
  redis.call('SET', KEYS[1], '1', 'PX', wanted)
  left = wanted
end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('INCR', KEYS[3])
return left
"""


class Clock(Protocol):
    """What the gate needs of the ``time`` module."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SharedClock:
    """Redis's clock as this process measured it (``models.db.shared_time``): the
    per-second and per-day keys are written on one host and read on another (the web's
    dashboard), so their seconds and days must be the same clock's."""

    def time(self) -> float:
        return shared_time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SHARED_CLOCK = SharedClock()


class Slot(NamedTuple):
    """A request's slot at the gate."""

    at: float  # when the request may go: epoch seconds of Redis's clock
    counted_at: float  # the gate's clock when it counted the request (its second, its day)


@dataclass(frozen=True)
class HostStats:
    """One host kind's figures, for the ops dashboard."""

    requests_last_minute: int
    rate_limited_last_minute: int
    rate_limited_total: int
    paused_until: float | None
    requests_today: int = 0


class SpotifyGate:
    """The global rate limit and 429 pauses of each Spotify host kind, kept in Redis."""

    def __init__(
        self,
        ref: RedisRef,
        settings: Settings,
        max_wait: float = 30.0,
        clock: Clock = SHARED_CLOCK,
    ) -> None:
        self.max_wait = max_wait
        self.daily_budget = settings.spotify_daily_budget
        self._ref = ref
        self._redis = ref.client
        self._clock = clock
        rates = {
            "api": settings.spotify_api_rate,
            "open": settings.spotify_pages_rate,
            SIGN_IN: settings.spotify_sign_in_rate,
        }
        self._interval_us = {
            kind: max(1, round(1e6 / (rate * (1 - HEADROOM)))) for kind, rate in rates.items()
        }
        self._reserve = ref.client.register_script(_RESERVE)
        self._pause = ref.client.register_script(_PAUSE)
        self._give_back = ref.client.register_script(_GIVE_BACK)

    def before_request(self, host_kind: str, max_wait: float | None = None) -> float:
        """Wait for this host's (or the sign-in lane's) next free request slot, or raise
        ``RateLimited`` if it is further than ``max_wait`` (by default the gate's;
        ``BudgetSpent`` when the day's Web API budget is spent); the slot taken, in epoch
        seconds of Redis's clock (when the gate let the request go, however late the
        caller's thread wakes)."""
        return self.reserve(host_kind, max_wait).at

    def reserve(self, host_kind: str, max_wait: float | None = None) -> Slot:
        """``before_request``, with what ``give_back`` needs of the slot."""
        self._check(host_kind, LANES)
        max_wait = self.max_wait if max_wait is None else max_wait
        while True:
            status, seconds, slot = self._reserve_slot(host_kind, max_wait)
            if status == _SPENT:
                raise BudgetSpent(
                    f"The day's {self._daily_limit(host_kind):,} Spotify Web API requests are"
                    f" spent; going on in {seconds:.0f}s, at the next UTC day",
                    retry_after=seconds,
                    host_kind=host_kind,
                )
            if status == _PAUSED:
                if seconds > max_wait:
                    raise RateLimited(
                        f"Spotify's {host_kind} host is paused for {seconds:.1f}s more",
                        retry_after=seconds,
                        host_kind=host_kind,
                    )
                self._clock.sleep(min(seconds, PAUSE_STEP))
                continue
            if status == _TOO_FAR:
                raise RateLimited(
                    f"The next {host_kind} request slot is {seconds:.1f}s away",
                    retry_after=seconds,
                    host_kind=host_kind,
                )
            if seconds > 0:
                self._clock.sleep(seconds)
                # A 429 seen elsewhere while we waited for our slot pauses us too; the slot
                # is given up (a little less throughput, no request into a pause older
                # than PAUSE_LOOK_AFTER).
                looks = seconds > PAUSE_LOOK_AFTER
                if looks and self._pause_left(_HOST_OF[host_kind]) is not None:
                    self.give_back(host_kind, slot)
                    continue
            return slot

    def give_back(self, host_kind: str, slot: Slot) -> None:
        """Count ``slot``, which no request used, as no request: out of the counters of
        its second and its day, which then count the requests sent. Its place in the line
        is not given back (the slots after it are taken already)."""
        second = self._counter(host_kind, "requests", slot.counted_at)
        self._give_back(keys=[second, self.day_key(_HOST_OF[host_kind], slot.counted_at)])

    def now(self) -> float:
        """The gate's clock: Redis's, as this process measured it (epoch seconds)."""
        return self._clock.time()

    def _reserve_slot(self, host_kind: str, max_wait: float) -> tuple[int, float, Slot]:
        """One try for this host's next slot, in one round trip: the script's status, its
        seconds (the wait until the slot, the pause left, or the time to the next day), and
        the slot reserved (at 0 when none was)."""
        now = self._clock.time()
        host = _HOST_OF[host_kind]
        keys = [
            self._key(host_kind, "tat"),
            self._key(host, "paused"),
            self._counter(host_kind, "requests", now),
            self.day_key(host, now),
        ]
        args = [
            self._interval_us[host_kind],
            round(max_wait * 1e6),
            COUNTER_TTL,
            self._daily_limit(host_kind),
            round((next_utc_day(now) - now) * 1e6),
            DAY_COUNTER_TTL,
        ]
        status, micros, *reserved = self._reserve(keys=keys, args=args)
        slot = Slot(int(reserved[0]) / 1e6 if reserved else 0.0, now)
        return int(status), int(micros) / 1e6, slot

    def _daily_limit(self, host_kind: str) -> int:
        """The requests this host may have per UTC day: the Web API's budget (its bulk share
        for the sign-in lane), else none (0)."""
        if host_kind == SIGN_IN and self.daily_budget:
            return bulk_limit(self.daily_budget)
        return self.daily_budget if host_kind == "api" else 0

    def pause(self, host_kind: str, retry_after: float) -> None:
        """Stop every process calling this host for ``retry_after`` seconds (never shorter)."""
        self._check(host_kind)
        keys = [
            self._key(host_kind, "paused"),
            self._counter(host_kind, "429s"),
            self._key(host_kind, "429s"),
        ]
        self._pause(keys=keys, args=[max(1, math.ceil(retry_after * 1000)), COUNTER_TTL])

    def resume(self, host_kind: str) -> bool:
        """End this host's pause now (an operator knows better, e.g. the quota was raised);
        whether there was one."""
        self._check(host_kind)
        ended = bool(self._redis.delete(self._key(host_kind, "paused")))
        if ended:
            log.warning("the pause of Spotify's %s host was ended by an operator", host_kind)
        return ended

    def requests_today(self, host_kind: str = "api") -> int:
        """Requests admitted to this host since 00:00 UTC, by every process."""
        self._check(host_kind)
        return int(self._redis.get(self.day_key(host_kind, self._clock.time())) or 0)

    def bulk_allowed(self) -> bool:
        """Whether bulk work may still spend Web API requests today (always, with no budget)."""
        if not self.daily_budget:
            return True
        return self.requests_today("api") < bulk_limit(self.daily_budget)

    def day_key(self, host_kind: str, now: float) -> str:
        """The key counting this host's requests on the UTC day of ``now``."""
        day = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
        return self._key(host_kind, "day", day)

    def paused_until(self, host_kind: str) -> float | None:
        """When this host's pause ends (epoch seconds), or None if it is not paused."""
        self._check(host_kind)
        left = self._pause_left(host_kind)
        return None if left is None else self._clock.time() + left

    def stats(self) -> dict[str, HostStats]:
        """Requests and 429s of the last minute, 429s ever, and the pause, per host kind."""
        second = int(self._clock.time())
        seconds = range(second - 59, second + 1)
        with self._redis.pipeline(transaction=False) as pipe:
            for kind in HOST_KINDS:
                pipe.mget([self._key(kind, "requests", str(s)) for s in seconds])
                pipe.mget([self._key(kind, "429s", str(s)) for s in seconds])
                pipe.get(self._key(kind, "429s"))
                pipe.pttl(self._key(kind, "paused"))
                pipe.get(self.day_key(kind, second))
            replies = iter(pipe.execute())
        now = self._clock.time()
        out = {}
        for kind in HOST_KINDS:
            requests, limited, total, pause, today = (next(replies) for _ in range(5))
            out[kind] = HostStats(
                requests_last_minute=_sum(requests),
                rate_limited_last_minute=_sum(limited),
                rate_limited_total=int(total or 0),
                paused_until=now + pause / 1000 if pause > 0 else None,
                requests_today=int(today or 0),
            )
        return out

    def _pause_left(self, host_kind: str) -> float | None:
        """Seconds left in this host's pause, or None."""
        left = self._redis.pttl(self._key(host_kind, "paused"))
        return left / 1000 if left > 0 else None

    def _key(self, host_kind: str, *parts: str) -> str:
        return self._ref.key("spotify-gate", host_kind, *parts)

    def _counter(self, host_kind: str, name: str, at: float | None = None) -> str:
        """The key counting ``name`` events of this host in the second of ``at`` (by
        default the current one)."""
        return self._key(host_kind, name, str(int(self._clock.time() if at is None else at)))

    def _check(self, host_kind: str, kinds: tuple[str, ...] = HOST_KINDS) -> None:
        if host_kind not in kinds:
            raise ValueError(f"host_kind must be one of {kinds}, not {host_kind!r}")


def next_utc_day(now: float) -> float:
    """When the UTC day after ``now`` begins (epoch seconds)."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    return tomorrow.timestamp()


def bulk_limit(budget: int) -> int:
    """The day's requests after which bulk work stops."""
    return math.floor(budget * BULK_SHARE)


def _sum(values: list[Any]) -> int:
    """The sum of counter values, missing ones counting as 0."""
    return sum(int(v) for v in values if v is not None)
