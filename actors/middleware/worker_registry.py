"""Each worker process reports itself in Redis, for the dashboard and ``/metrics``.

On boot the process writes its entry (``ops.workers``): host, pid, the queues it consumes,
its threads, when it started; a thread refreshes it every few seconds with the messages
being processed at that moment, a fresh heartbeat, and how far its clock is from Redis's
(with whether that stops it fetching: ``actors.middleware.queue_pause``). Its times are on
Redis's clock (``ops.clock``), so a reader on any host compares them with its own. The
hooks around each message only touch a dict in memory, so a message costs no Redis call
here. The entry expires when the process dies; a clean shutdown removes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

import redis
from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_broker, redis_ref
from ops.clock import RedisClock
from ops.workers import (
    HEARTBEAT_INTERVAL,
    CurrentJob,
    WorkerInfo,
    from_epoch,
    remove_worker,
    write_worker,
)

log = logging.getLogger(__name__)


class WorkerRegistry(BackgroundMiddleware):
    """Keeps this worker process's entry in Redis up to date."""

    thread_name = "worker-registry"

    def __init__(
        self, interval: float = HEARTBEAT_INTERVAL, clock: RedisClock | None = None
    ) -> None:
        super().__init__(interval)
        # The clock QueuePause measures (actors/broker.py hands both the same one).
        self.clock = clock or RedisClock()
        # Thread id -> (message id, actor, queue, start) of the message it is processing, and
        # thread id -> messages it has processed. Each thread writes its own keys only, and
        # a dict item's assignment is atomic, so the path of a message takes no lock; the
        # heartbeat thread reads copies.
        self._current: dict[int, tuple[str, str, str, float]] = {}
        self._processed: dict[int, int] = {}
        self._stopping = False
        self._worker: Worker | None = None
        self._broker_id = ""
        self._started_at = 0.0

    @property
    def worker_id(self) -> str:
        """This process's id in the registry (host, pid and the broker's own id)."""
        return f"{socket.gethostname()}:{os.getpid()}:{self._broker_id[:8]}"

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._worker, self._broker_id = worker, redis_broker(broker).broker_id
        self._started_at, self._stopping = self.clock.now(), False
        self.tick(broker)  # listed at once, not one interval later
        super().after_worker_boot(broker, worker)

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        # Still listed while the running messages finish, marked as stopping.
        self._stopping = True
        super().before_worker_shutdown(broker, worker)
        self.tick(broker)

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._safely(lambda b: remove_worker(redis_ref(b), self.worker_id), broker)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        job = (message.message_id, message.actor_name, message.queue_name, self.clock.now())
        self._current[threading.get_ident()] = job

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        thread = threading.get_ident()
        if self._current.pop(thread, None) is not None:
            self._processed[thread] = self._processed.get(thread, 0) + 1

    after_skip_message = after_process_message

    def info(self) -> WorkerInfo:
        """This process as it stands now."""
        worker = self._worker
        queues = sorted(q for q in (worker.consumers if worker else {}) if not q.endswith(".DQ"))
        running = sorted(self._current.copy().values(), key=lambda job: job[3])
        current = tuple(CurrentJob(m, a, q, from_epoch(t)) for m, a, q, t in running)
        processed = sum(self._processed.copy().values())
        return WorkerInfo(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(queues),
            threads=worker.worker_threads if worker else 0,
            started_at=from_epoch(self._started_at),
            heartbeat_at=from_epoch(self.clock.now()),
            clock_offset=self.clock.offset,
            clock_held=self.clock.skewed,
            broker_id=self._broker_id,
            processed=processed,
            stopping=self._stopping,
            current=current,
        )

    def tick(self, broker: Broker) -> None:
        """Write this process's entry with a fresh heartbeat."""
        self._safely(self._beat, broker)

    def _beat(self, broker: Broker) -> None:
        write_worker(redis_ref(broker), self.info())

    def _safely(self, action: Callable[[Broker], None], broker: Broker) -> None:
        """Run ``action(broker)``; Redis being away for a moment only costs a beat."""
        try:
            action(broker)
        except redis.RedisError as error:
            log.warning("worker registry: %s", error)
