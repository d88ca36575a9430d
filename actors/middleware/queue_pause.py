"""Honouring paused queues (``ops.pause``): stop fetching them, hand back what was fetched.

Pausing is a Redis set that a watcher thread reads every second. Two things follow when a
queue of this worker is paused:

1. Its consumer thread is paused (``ConsumerThread.pause``, what ``Worker.pause`` uses for
   all of them), so the worker stops fetching it; its messages stay in Redis, in order.
   Dramatiq pauses a consumer the next time it finds nothing to fetch or its prefetch full,
   so a few more may be fetched meanwhile.
2. A message of a paused queue that reaches a worker thread anyway (it was prefetched
   before the pause) is sent again with a short delay and then skipped, which acknowledges
   the original: the copy is in Redis before the original leaves it. It is the same
   message (id, retries, options), so it counts as no retry, and this runs before
   ``JobRuns`` so its job row is never claimed.

The delay queue's consumer is left running: a delayed message that comes due moves to the
waiting list, where it waits for the resume like the others.

**A clock too far from Redis's holds every consumer** (``ops.clock``). Dramatiq's Redis
broker stamps a worker's heartbeat with the worker's own clock, and any of its calls may
run the maintenance that takes the messages of the workers whose stamp looks too old: a
host 120 s ahead would take every message the others are running, and one 120 s behind
would look dead to them. So the worker compares its clock with Redis's ``TIME`` before its
consumers start and every minute after; while they differ by more than 5 s every consumer
is paused, the delay queues' too (their etas are read on the host clock), before its first
fetch, and the broker runs no maintenance. Fetching nothing, the worker takes nothing and
holds nothing another could take. What it was running when its clock went off is
finished, with the job rows' stamps on Redis's clock and Dramatiq's heartbeat kept on it
every second, so no other worker takes it meanwhile. It says why in its log (a warning,
once per change), and in the worker list (the dashboard, ``/metrics``).
"""

from __future__ import annotations

import logging
import time

import redis
from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage
from dramatiq.worker import ConsumerThread

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_broker, redis_ref
from ops.clock import CHECK_EVERY, RedisClock
from ops.pause import paused_queues

log = logging.getLogger(__name__)

# How often workers read the paused set: a pause takes hold within about this long.
POLL_INTERVAL = 1.0
# A prefetched message of a paused queue comes back to the waiting list after this long.
REDELIVERY_DELAY_MS = 3_000


class QueuePause(BackgroundMiddleware):
    """Stops taking the messages of paused queues, and puts back the ones already taken."""

    thread_name = "queue-pause"

    def __init__(
        self,
        poll_interval: float = POLL_INTERVAL,
        clock: RedisClock | None = None,
        check_every: float = CHECK_EVERY,
    ) -> None:
        super().__init__(poll_interval)
        self.paused: frozenset[str] = frozenset()
        self.clock = clock or RedisClock()
        self.check_every = check_every
        self._worker: Worker | None = None
        self._paused_consumers: set[str] = set()
        self._checked_at: float | None = None
        self._maintenance_chance: int | None = None

    @property
    def held(self) -> bool:
        """Whether this worker fetches nothing because its clock is too far from Redis's."""
        return self.clock.skewed

    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        # Before the consumer threads start (Dramatiq starts them before after_worker_boot,
        # each fetching at once), so that a skewed worker never fetches. Redis away: the
        # first tick compares once it is back, and a consumer's fetch waits for Redis too.
        self._check_clock(broker)

    def after_consumer_thread_boot(self, broker: Broker, thread: ConsumerThread) -> None:
        # Runs in the consumer's thread before its first fetch.
        if self.held:
            thread.pause()
            self._paused_consumers.add(thread.queue_name)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._worker = worker
        # Read at once, so that a worker booting while a queue is paused never fetches it.
        # Booting while Redis is away, the ticks read the pauses once it is back.
        self.tick(broker)
        super().after_worker_boot(broker, worker)

    def tick(self, broker: Broker) -> None:
        """Follow the paused set and the clock; Redis being away only delays that."""
        try:
            if self._clock_check_due():
                self._check_clock(broker)
            self.refresh(broker)
            if self.held:
                self._beat(broker)
        except redis.RedisError as error:
            log.warning("could not read the paused queues: %s", error)

    def _clock_check_due(self) -> bool:
        checked = self._checked_at
        return checked is None or time.monotonic() - checked >= self.check_every

    def _check_clock(self, broker: Broker) -> None:
        """Compare this host's clock with Redis's; say so when that changes the hold."""
        was_held = self.held
        try:
            self.clock.measure(redis_ref(broker))
        except redis.RedisError as error:
            log.warning("could not compare this host's clock with Redis's: %s", error)
            return
        self._checked_at = time.monotonic()
        if self.held and not was_held:
            log.warning(
                "this host's clock is %s (more than %.0f s): fetching nothing until it is "
                "set right, since Dramatiq's heartbeats use it",
                self.clock.describe(), self.clock.max_skew,
            )  # fmt: skip
        elif was_held and not self.held:
            log.warning("this host's clock is %s again: fetching", self.clock.describe())
        self._hold_maintenance(broker)

    def _beat(self, broker: Broker) -> None:
        """Dramatiq's heartbeat of this worker, on Redis's clock, while it fetches nothing.

        Its heartbeat is otherwise stamped by its fetches (none now) and acks (on this
        host's clock): the messages it was running when its clock went off would look like
        a dead worker's and be run again elsewhere. GT: never a later stamp made earlier.
        """
        dramatiqs = redis_broker(broker)
        heartbeats = f"{dramatiqs.namespace}:__heartbeats__"
        dramatiqs.client.zadd(
            heartbeats, {dramatiqs.broker_id: int(self.clock.now() * 1000)}, gt=True
        )

    def _hold_maintenance(self, broker: Broker) -> None:
        """No maintenance on a held worker's calls: its stamps would count the others dead."""
        dramatiqs = redis_broker(broker)
        if self.held and self._maintenance_chance is None:
            self._maintenance_chance, dramatiqs.maintenance_chance = dramatiqs.maintenance_chance, 0
        elif not self.held and self._maintenance_chance is not None:
            dramatiqs.maintenance_chance = self._maintenance_chance
            self._maintenance_chance = None

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.queue_name not in self.paused:
            return
        # The copy first: if Redis refuses it, this raises, Dramatiq logs it and the message
        # runs after all (a late pause, never a lost message).
        broker.enqueue(message._message.copy(), delay=REDELIVERY_DELAY_MS)
        raise SkipMessage(f"queue {message.queue_name!r} is paused; message put back")

    def refresh(self, broker: Broker) -> None:
        """Read the paused set and pause or resume this worker's consumers to match (all of
        them, delay queues too, while the clock holds the worker)."""
        paused, before = paused_queues(redis_ref(broker)), self.paused
        self.paused = paused
        consumers = self._worker.consumers if self._worker is not None else {}
        stopped = frozenset(consumers) if self.held else paused
        for queue in stopped - self._paused_consumers:
            if queue in consumers:
                consumers[queue].pause()
                self._paused_consumers.add(queue)
                if queue in paused:
                    log.info("queue %r paused: not fetching it", queue)
        # Only consumers this middleware paused are resumed (Worker.pause is not undone).
        for queue in self._paused_consumers - stopped:
            consumers[queue].resume()
            self._paused_consumers.discard(queue)
            if queue in before:
                log.info("queue %r resumed", queue)
