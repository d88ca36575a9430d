"""Counting every processed message per actor and minute, without a write per message.

Each message's outcome and duration go into an in-memory ``ops.counters.CounterBuffer``;
a thread adds the buffer to Redis once a second in one pipeline, and once more after the
worker has finished its last message. A tiny job (an up-to-date ``update_artist``) thus
pays a lock and a dict update, not a round trip. A process killed outright loses at most
the last second of counts.

It comes after ``QueuePause`` in the middleware list, so a message put back because its
queue is paused is not counted; messages skipped by a later middleware are (``skipped``).
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_ref
from ops.counters import FAILED, RETRIED, SKIPPED, SUCCEEDED, CounterBuffer

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0


class JobCounters(BackgroundMiddleware):
    """Counts outcomes and durations per actor, flushed to Redis every second."""

    thread_name = "job-counters"

    def __init__(self, flush_interval: float = FLUSH_INTERVAL) -> None:
        super().__init__(flush_interval)
        self.buffer = CounterBuffer()
        self._local = threading.local()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        # The flushes go on while the worker threads finish their last messages.
        pass

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        # After the worker threads have finished their last messages: nothing is left out.
        self.stop_thread()
        self.flush(broker)

    def tick(self, broker: Broker) -> None:
        """Flush the counts gathered since the last tick."""
        self.flush(broker)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._local.started = (message.message_id, time.monotonic())

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        # Retries (later in the list, so its after-hook ran first) has failed the message
        # if it will not be tried again.
        if exception is not None:
            self._count(message, FAILED if message.failed else RETRIED)
        else:
            self._count(message, SUCCEEDED)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._count(message, SKIPPED)

    def flush(self, broker: Broker) -> None:
        """Add the counts gathered so far to Redis (kept for the next try if it is away)."""
        try:
            self.buffer.flush(redis_ref(broker))
        except redis.RedisError as error:
            log.warning("could not flush the job counters: %s", error)

    def _count(self, message: MessageProxy, status: str) -> None:
        started = getattr(self._local, "started", None)
        self._local.started = None
        # Nothing started here (a message put back by QueuePause, which runs first).
        if started is None or started[0] != message.message_id:
            return
        elapsed_ms = round((time.monotonic() - started[1]) * 1000)
        self.buffer.record(message.actor_name, status, elapsed_ms, message.queue_name)
