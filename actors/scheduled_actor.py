"""Periodic actors whose ticks only the scheduler lease's holder sends, once.

periodiq sends a tick with ``actor.send_with_options(scheduled_at=...)`` from its main
loop, and offers no hook around it. ``ScheduledActor`` (declared with
``@dramatiq.actor(actor_class=ScheduledActor, periodic=...)``) is that hook: a send that
carries ``scheduled_at`` goes through the process's ``TickSender``, which keeps the lease
(see actors/scheduler_lease.py) in a thread and sends a tick only when the lease says so.
The thread starts on the first tick, so it runs in the scheduler process alone.

**A scheduler whose clock is more than 5 s from Redis's sends no tick** and gives the lease
up (ops/clock_watch.py measures it at start and every minute). periodiq fires on the
host's clock and stamps the tick with that clock's minute, and that cannot be corrected
afterwards: the claim is per actor and cron minute, so a scheduler 120 s ahead would send
each tick two minutes early (before the jobs it follows, e.g. a minute's ``recover``
before that minute), and one 120 s behind would send it two minutes late, which the
workers skip as older than 60 s: lost, if it held the lease. Sending nothing instead
leaves the ticks to a standby whose clock is right (it takes the lease at once, and sends
the ticks it was refused meanwhile, ``CATCH_UP``); with no such standby none is sent, as
the log, the dashboard and ``/metrics`` say, which is better than ticks at the wrong time.
Within 5 s a tick is at most that early or late, which the cron jobs here do not mind.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from actors.scheduler_lease import RENEW_EVERY, Claim, SchedulerLease, utc
from config.redis_ref import RedisRef
from models.db import shared_time
from ops.clock_watch import process_clock_skewed

logger = logging.getLogger(__name__)

# A refused tick may still be sent by a standby that takes over this soon after it: the
# workers skip periodic messages older than 60 s, and the message needs time to be taken.
CATCH_UP = dt.timedelta(seconds=40)


@dataclass
class _HeldTick:
    actor_name: str
    scheduled_at: dt.datetime
    send: Callable[[], Message]


class TickSender:
    """A scheduler process's sender: its lease kept alive by a thread, ticks sent through it."""

    def __init__(
        self,
        lease: SchedulerLease,
        *,
        renew_every: dt.timedelta = RENEW_EVERY,
        catch_up: dt.timedelta = CATCH_UP,
        clock_skewed: Callable[[], bool] = process_clock_skewed,
    ) -> None:
        self.lease = lease
        # Whether this process's clock is too far from Redis's to send ticks (see above).
        self.clock_skewed = clock_skewed
        self.renew_every = renew_every
        self.catch_up = catch_up
        self.holding = False
        self._held_back: list[_HeldTick] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, name="scheduler-lease")
        self._thread.daemon = True

    def start(self) -> TickSender:
        """Start keeping the lease (or asking for it) in a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and release the lease if it is ours."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        # If Redis is away, the lease expires by itself within LEASE_TTL.
        with contextlib.suppress(redis.RedisError):
            self.lease.release()

    def send(
        self, actor_name: str, scheduled_at: dt.datetime, send: Callable[[], Message]
    ) -> Message | None:
        """Call ``send`` if this scheduler holds the lease and nobody sent this tick yet
        (never while its clock is too far from Redis's: then it gives the lease up)."""
        if self.clock_skewed():
            # The watch said why in a warning, once (ops/clock_watch.py).
            logger.debug("%s at %s not sent: this host's clock is off", actor_name, scheduled_at)
            self._give_up()
            return None
        claim = self.lease.claim_tick(actor_name, scheduled_at)
        self._note_holding(claim is not Claim.NOT_HOLDER)
        if claim is Claim.SEND:
            return send()
        if claim is Claim.NOT_HOLDER:
            logger.debug("%s at %s: another scheduler holds the lease", actor_name, scheduled_at)
            with self._lock:
                self._held_back.append(_HeldTick(actor_name, scheduled_at, send))
        return None

    def _keep_alive(self) -> None:
        while not self._stopping.wait(self.renew_every.total_seconds()):
            try:
                if self.clock_skewed():
                    self._give_up()
                    continue
                held = self.lease.keep()
                self._note_holding(held)
                self._send_held_back(held)
            except redis.RedisError as exc:
                # The lease expires meanwhile if this lasts; the next round asks again.
                logger.warning("the scheduler lease: Redis did not answer: %s", exc)

    def _give_up(self) -> None:
        """Release the lease if this scheduler holds it, so that a standby takes it now."""
        if self.holding:
            self.lease.release()
            logger.warning("scheduler %s gave the lease up: its clock is off", self.lease.holder_id)
        self.holding = False
        with self._lock:
            self._held_back = []

    def _send_held_back(self, held: bool) -> None:
        """Send the refused ticks nobody sent (when the lease is ours); forget old ones."""
        # Redis's clock: the ticks' minutes are the cron's, on the clock they are due by.
        now = dt.datetime.fromtimestamp(shared_time(), dt.UTC)
        with self._lock:
            recent = [t for t in self._held_back if now - utc(t.scheduled_at) < self.catch_up]
            self._held_back = [] if held else recent
        if not held:
            return
        for tick in recent:
            if self.lease.claim_tick(tick.actor_name, tick.scheduled_at) is Claim.SEND:
                logger.warning(
                    "sent %s of %s after taking over", tick.actor_name, tick.scheduled_at
                )
                tick.send()

    def _note_holding(self, held: bool) -> None:
        if held and not self.holding:
            logger.info("scheduler %s holds the lease: it sends the ticks", self.lease.holder_id)
        elif self.holding and not held:
            logger.warning("scheduler %s lost the lease to another", self.lease.holder_id)
        self.holding = held


_senders: dict[int, TickSender] = {}
_senders_lock = threading.Lock()


def tick_sender(broker: RedisBroker) -> TickSender:
    """The process's tick sender on ``broker``, started on first use (by periodiq's tick)."""
    with _senders_lock:
        sender = _senders.get(id(broker))
        if sender is None:
            lease = SchedulerLease(RedisRef.of(broker))
            sender = _senders[id(broker)] = TickSender(lease).start()
        return sender


def stop_tick_senders() -> None:
    """Stop every tick sender of the process and release its lease (at exit, and in tests)."""
    with _senders_lock:
        senders = list(_senders.values())
        _senders.clear()
    for sender in senders:
        sender.stop()


# periodiq ends on Ctrl+C through sys.exit, so a stopped scheduler hands the lease over at
# once; one killed (or stopped with SIGTERM) leaves it to expire.
atexit.register(stop_tick_senders)


class ScheduledActor(dramatiq.Actor):
    """An actor whose periodiq ticks only the lease holder sends, once per minute.

    periodiq's scheduler is the only sender that sets ``scheduled_at``. A refused tick
    returns None instead of a message (periodiq ignores what sends return).
    """

    def send_with_options(
        self,
        *,
        args: tuple = (),
        kwargs: dict[str, Any] | None = None,
        delay: dt.timedelta | int | None = None,
        **options: Any,
    ) -> Message:
        parent = super().send_with_options

        def send() -> Message:
            return parent(args=args, kwargs=kwargs, delay=delay, **options)

        scheduled_at = options.get("scheduled_at")
        if scheduled_at is None or not isinstance(self.broker, RedisBroker):
            return send()
        at = dt.datetime.fromisoformat(str(scheduled_at))
        # Dramatiq's Actor promises a Message; a tick not sent here gives None, which
        # periodiq, the only sender with a scheduled_at, never reads (hence the ignores).
        try:
            sent = tick_sender(self.broker).send(self.actor_name, at, send)
        except redis.RedisError as error:
            # periodiq's loop ends the scheduler on any error: a tick lost to a Redis
            # outage must not. The next minute's tick goes when Redis is back.
            logger.warning("%s at %s not sent (Redis: %s)", self.actor_name, at, error)
            return None  # type: ignore[return-value]  # lost to Redis: periodiq ignores it
        return sent  # type: ignore[return-value]  # None when refused: periodiq ignores it
