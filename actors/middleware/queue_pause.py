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
"""

from __future__ import annotations

import logging

import redis
from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_ref
from ops.pause import paused_queues

log = logging.getLogger(__name__)

# How often workers read the paused set: a pause takes hold within about this long.
POLL_INTERVAL = 1.0
# A prefetched message of a paused queue comes back to the waiting list after this long.
REDELIVERY_DELAY_MS = 3_000


class QueuePause(BackgroundMiddleware):
    """Stops taking the messages of paused queues, and puts back the ones already taken."""

    thread_name = "queue-pause"

    def __init__(self, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(poll_interval)
        self.paused: frozenset[str] = frozenset()
        self._worker: Worker | None = None
        self._paused_consumers: set[str] = set()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._worker = worker
        # Read at once, so that a worker booting while a queue is paused never fetches it.
        # Booting while Redis is away, the ticks read the pauses once it is back.
        self.tick(broker)
        super().after_worker_boot(broker, worker)

    def tick(self, broker: Broker) -> None:
        """Follow the paused set; Redis being away only delays that."""
        try:
            self.refresh(broker)
        except redis.RedisError as error:
            log.warning("could not read the paused queues: %s", error)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.queue_name not in self.paused:
            return
        # The copy first: if Redis refuses it, this raises, Dramatiq logs it and the message
        # runs after all (a late pause, never a lost message).
        broker.enqueue(message._message.copy(), delay=REDELIVERY_DELAY_MS)
        raise SkipMessage(f"queue {message.queue_name!r} is paused; message put back")

    def refresh(self, broker: Broker) -> None:
        """Read the paused set and pause or resume this worker's consumers to match."""
        paused = paused_queues(redis_ref(broker))
        self.paused = paused
        consumers = self._worker.consumers if self._worker is not None else {}
        for queue in paused - self._paused_consumers:
            if queue in consumers:
                consumers[queue].pause()
                self._paused_consumers.add(queue)
                log.info("queue %r paused: not fetching it", queue)
        # Only consumers this middleware paused are resumed (Worker.pause is not undone).
        for queue in self._paused_consumers - paused:
            consumers[queue].resume()
            self._paused_consumers.discard(queue)
            log.info("queue %r resumed", queue)
