"""The monthly refresh in slices: only as many ``update_artist`` messages in Redis as the
page rate can take before the next slice; every other outdated artist waits in the
database, where it is found again by the next slice.

Sending the whole refresh at once held one 472-byte message per outdated artist in Redis
until the workers, at the page rate, got through them: 4.7 GB for most of 278 hours at 10
million artists (docs/capacity.md). A slice tops the bulk queue up to ``AHEAD_S`` seconds
of the page rate instead, so Redis holds the same few hundred kilobytes at any size.

A pass walks the artist ids upwards; its cursor (the highest id sent) and whether it is
done live in Redis beside the messages, and move in the same MULTI/EXEC as the messages of
the slice: a slice that dies sends nothing and moves nothing, and if Redis loses its data
it loses the cursor with the queued messages, so the pass starts again and sends them
again. Two slices never run at once (a lock that lapses if its holder dies), so two
schedulers' ticks or a late tick beside the next cannot send an artist twice. An artist
sent twice all the same (a pass started again) is cheap: its second message finds it up
to date, and the read claim (sync/artist_reads.py) lets one reader read its page.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from peewee import fn

from config.redis_ref import RedisRef, text
from jobs import queueing
from jobs.pipelined import enqueue_pipelined
from models import Artist, current_month

# The ``refresh_slice`` tick comes every minute (ops/schedules.py).
SLICE_EVERY_S = 60
# The queue is topped up to this many seconds of the page rate: two ticks, so one tick
# late or skipped (periodiq drops a tick that waited over 60 s) still leaves work queued.
AHEAD_S = 2 * SLICE_EVERY_S
# One query walks at most this many ids, however few of them are outdated ...
WINDOW = 25_000
# ... and a slice stops scanning after this long, where it is: over a table whose artists
# are all up to date, the pass moves on a bounded stretch per tick.
SCAN_S = 20.0
# The lock outlives the longest slice (its scan, then one pipelined send).
LOCK_MS = 120_000
# A pass's state outlives its month.
STATE_TTL_S = 40 * 24 * 3600

# KEYS: the lock. ARGV: the holder's token. Lets the lock go only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Slice:
    """What one slice found and did."""

    queued: int  # the refresh's messages in Redis before it (waiting, running, delayed)
    sent: int
    after_id: int  # the pass's cursor after it
    done: bool  # the pass has reached the highest artist id
    ran: bool = True  # False when another slice held the lock


class RefreshPass:
    """This month's pass of the refresh: its cursor and lock in Redis."""

    def __init__(self, ref: RedisRef, month: str | None = None) -> None:
        self.ref = ref
        self.month = month or current_month()
        self.key = ref.key("refresh-pass", self.month)
        self.lock_key = ref.key("refresh-pass", self.month, "lock")

    def state(self) -> tuple[int, bool]:
        """The cursor and whether the pass is done (a pass not begun is at 0)."""
        raw = self.ref.client.hmget(self.key, ["after", "done"])
        return int(text(raw[0]) or 0), text(raw[1]) == "1"

    def start(self) -> bool:
        """Begin a new pass from the first artist if the last one is done; whether it did.

        A pass still going is left alone: starting it again would walk again what it
        walked, and send again what is queued.
        """
        if not self.state()[1]:
            return False
        self.ref.client.hset(self.key, mapping={"after": 0, "done": 0})
        return True

    def queued(self) -> int:
        """The bulk queue's messages in Redis: waiting, fetched and not acked, delayed."""
        bulk = self.ref.key(queueing.BULK_QUEUE)
        with self.ref.client.pipeline(transaction=False) as pipe:
            pipe.hlen(f"{bulk}.msgs")
            pipe.hlen(f"{bulk}.DQ.msgs")
            return sum(pipe.execute())

    def send_slice(self, pages_rate: float) -> Slice:
        """Top the bulk queue up to ``AHEAD_S`` seconds of ``pages_rate``, from the cursor."""
        token = uuid.uuid4().hex
        if not self.ref.client.set(self.lock_key, token, nx=True, px=LOCK_MS):
            return Slice(queued=0, sent=0, after_id=self.state()[0], done=False, ran=False)
        try:
            return self._send_slice(pages_rate)
        finally:
            self.ref.client.eval(_RELEASE, 1, self.lock_key, token)

    def _send_slice(self, pages_rate: float) -> Slice:
        after, done = self.state()
        queued = self.queued()
        budget = int(pages_rate * AHEAD_S) - queued
        if done or budget <= 0:
            return Slice(queued=queued, sent=0, after_id=after, done=done)
        found, after, done = scan(self.month, after, budget, time.monotonic() + SCAN_S)

        def move_cursor(pipe: Any) -> None:
            pipe.hset(self.key, mapping={"after": after, "done": int(done)})
            pipe.expire(self.key, STATE_TTL_S)

        broker = dramatiq.get_broker()
        if not isinstance(broker, RedisBroker):
            raise TypeError("the sliced refresh keeps its cursor beside Dramatiq's Redis queue")
        messages = [
            queueing.build_message(queueing.UPDATE_ARTIST, queueing.BULK_QUEUE, [spotify_id])
            for _, spotify_id in found
        ]
        enqueue_pipelined(broker, messages, also=move_cursor)
        return Slice(queued=queued, sent=len(messages), after_id=after, done=done)


def scan(month: str, after: int, budget: float, deadline: float) -> tuple[list[Any], int, bool]:
    """Up to ``budget`` outdated artists with ids above ``after``, in id order, walked a
    window at a time until ``deadline``; returns them, the new cursor, and whether it
    reached the highest id."""
    highest: int = Artist.select(fn.MAX(Artist.id)).scalar() or 0
    found: list[tuple[int, str]] = []
    while len(found) < budget and after < highest and time.monotonic() < deadline:
        upto = min(after + WINDOW, highest)
        left = int(min(budget - len(found), WINDOW))
        page = Artist.outdated_between(month, after, upto, left)
        found += page
        after = page[-1][0] if len(page) == left else upto
    return found, after, after >= highest
