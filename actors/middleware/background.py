"""The base of the middleware that does its work in a thread of its own while the worker runs.

Four of our middleware keep something up to date on a timer rather than around each
message: the job counters (flushed to Redis), the paused queues (read from Redis), the
worker's entry in the worker list, and the watch for Redis coming back after an outage.
Each used to start and stop a thread of its own; this class is that thread, once.

``tick(broker)`` runs every ``interval`` seconds from ``after_worker_boot`` until
``before_worker_shutdown``. The thread is a daemon, so a worker that dies without a
shutdown is not held up by it, and it sleeps on an ``Event``, so a stop takes effect at
once instead of after the rest of the interval. A subclass catches the errors it expects
(Redis being away, mostly) and says what they cost; an error it did not expect is logged
with its traceback and the next tick runs all the same, because a dead thread would stop
the heartbeats or the pauses silently while the worker looks healthy.
"""

from __future__ import annotations

import logging
import threading

from dramatiq import Broker, Middleware, Worker

log = logging.getLogger(__name__)

# How long a stop waits for a tick in progress before leaving the daemon thread behind.
JOIN_TIMEOUT = 5.0


class BackgroundMiddleware(Middleware):
    """Calls ``tick(broker)`` every ``interval`` seconds in a daemon thread of its own."""

    # The thread's name, as it shows in logs and thread dumps.
    thread_name = "background"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, broker: Broker) -> None:
        """One round of the work; subclasses override it."""
        raise NotImplementedError

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self.start_thread(broker)

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self.stop_thread()

    def start_thread(self, broker: Broker) -> None:
        """Start ticking: the first tick comes one interval from now."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(broker,), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def stop_thread(self) -> None:
        """Stop ticking, and wait for a tick in progress to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT)

    def _run(self, broker: Broker) -> None:
        # interval is read on every round, so a test may shorten it on a running worker.
        while not self._stop.wait(self.interval):
            try:
                self.tick(broker)
            except Exception:
                # "Unexpected failure in" is what the fault tests look for in worker logs.
                log.exception("Unexpected failure in %s's tick; it runs again", self.thread_name)
