"""Telling running syncs that the worker is stopping, so they checkpoint and hand back."""

from __future__ import annotations

from dramatiq import Broker, Middleware, Worker

from actors import runtime


class GracefulStop(Middleware):
    """Sets ``runtime.stopping`` when the worker begins to shut down (SIGTERM).

    A sync checks it after each page: it saves its checkpoint and raises, and its message
    goes back on the queue to be resumed by the next worker. Dramatiq waits for running
    messages during shutdown, so this finishes within one page.
    """

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        runtime.stopping.set()
