"""Bringing back, within a second, the messages of a worker process that died.

Dramatiq's Redis broker gives a dead process's fetched-but-unacknowledged messages back to
their queue only during "maintenance", a step of its dispatch script that a broker call
runs by chance (``maintenance_chance``) and that looks at the one queue the call names. At
a quarter of all calls the last of a killed worker's queues waited a geometric number of
fetches for its turn: 15 to 26 s from the kill. So the broker runs no maintenance by chance
(``MAINTENANCE_CHANCE = 0`` in ``actors/broker.py``), and each worker process runs it here,
once a second, on every queue it consumes (delay queues included), in one pipelined round
trip. A dead process's messages are then back at most a second after its heartbeat is
``HEARTBEAT_TIMEOUT_MS`` old, and the cost is bounded: one script call per queue and
second per process, instead of a quarter of every fetch and enqueue.

Each call also stamps this process's heartbeat, from a thread of its own: a process whose
consumers wait behind a long message, or that is starved of CPU, still beats every second.
The time it stamps and judges the others by is Redis's (``TIME``), not this host's clock.
"""

from __future__ import annotations

import logging

import redis
from dramatiq import Broker, Worker
from dramatiq.brokers.redis import RedisBroker

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_broker
from jobs.pipelined import dispatch_args

log = logging.getLogger(__name__)

# How often each worker process runs maintenance (and so beats). One second: a dead
# process's messages come back at most a second after the heartbeat timeout, and a live one
# beats five times within that timeout (actors/broker.py).
MAINTENANCE_INTERVAL_S = 1.0
# A command dispatch.lua does not know: the script stamps the heartbeat, runs maintenance
# and does nothing else.
NO_COMMAND = "maintain"


class QueueMaintenance(BackgroundMiddleware):
    """Runs the broker's maintenance on this worker's queues every second."""

    thread_name = "queue-maintenance"

    def __init__(self, interval: float = MAINTENANCE_INTERVAL_S) -> None:
        super().__init__(interval)
        self._worker: Worker | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._worker = worker
        self.tick(broker)  # at once: a worker started after a death takes its work up
        super().after_worker_boot(broker, worker)

    def tick(self, broker: Broker) -> None:
        """One maintenance of every queue this worker consumes."""
        # Its queues and their delay queues (``name.DQ``), read each time (a queue declared
        # later gets a consumer then): a dead worker may have held a message in either.
        # list() of a dict is one step under the GIL, safe beside a consumer being added.
        queues = tuple(sorted(list(self._worker.consumers))) if self._worker else ()
        try:
            maintain(broker, queues)
        except redis.RedisError as error:
            # The consumers say loudly that Redis is away; the next tick tries again.
            log.debug("queue maintenance: %s", error)


def maintain(broker: Broker, queues: tuple[str, ...]) -> None:
    """Give the unacknowledged messages of dead worker processes on ``queues`` back to
    their queue, and expire their old dead letters: two round trips (Redis's time, then
    one pipeline for every queue)."""
    if not queues:
        return
    redis_ = redis_broker(broker)
    seconds, micros = redis_.client.time()
    now_ms = seconds * 1000 + micros // 1000
    try:
        _maintain_round(redis_, queues, now_ms)
    except redis.exceptions.NoScriptError:
        # Redis lost its scripts (a restart): load the script and run the round again.
        redis_.client.script_load(redis_.scripts["dispatch"].script)
        _maintain_round(redis_, queues, now_ms)


def _maintain_round(broker: RedisBroker, queues: tuple[str, ...], now_ms: int) -> None:
    sha = broker.scripts["dispatch"].sha
    with broker.client.pipeline(transaction=False) as pipe:
        for queue in queues:
            args = dispatch_args(broker, NO_COMMAND, queue, now_ms, maintenance=True)
            pipe.evalsha(sha, 1, broker.namespace, *args)
        pipe.execute()
