"""Keeping a running job's row alive and recording how it ended.

Shared by the worker (``actors/middleware/job_runs.py``) and the ``overlap`` command's
foreground runs (``cli/job_commands.py``), so that a job run either way beats the same
heartbeat and ends with the same words on its row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from peewee import PeeweeException

from models import JobRun, database
from models.job_run import CANCELLED, HEARTBEAT_INTERVAL, SUCCEEDED

# Error texts are kept on the row and shown on the dashboard; a traceback has its own column.
ERROR_MAX_CHARS = 2000


def describe(exception: BaseException) -> str:
    """The error as the job's row keeps it: its type and its message."""
    text = str(exception) or type(exception).__name__
    return f"{type(exception).__name__}: {text}"[:ERROR_MAX_CHARS]


def finish_ok(job: JobRun, attempt: int | None = None) -> bool:
    """Record that the run returned: succeeded, or cancelled when someone asked it to stop
    (a cancelled sync returns early with its pages kept); ``attempt`` as for
    ``JobRun.finish``. Whether it was recorded."""
    return job.finish(CANCELLED if job.cancel_requested else SUCCEEDED, attempt=attempt)


class Heartbeat(threading.Thread):
    """Writes a running job's heartbeat every few seconds until it stops.

    A thread of its own, so that a job waiting on Spotify's rate limit or a slow page still
    shows it is alive, and a job whose process died shows it within seconds.
    """

    def __init__(self, job: JobRun) -> None:
        super().__init__(name=f"heartbeat-{job.id}", daemon=True)
        self.job = job
        self.done = threading.Event()

    def run(self) -> None:
        interval = HEARTBEAT_INTERVAL.total_seconds()
        while not self.done.wait(interval):
            try:
                with database.connection_context():
                    self.job.beat()
            except PeeweeException:
                pass  # The database is away for a moment; the next beat tries again.

    def stop(self) -> None:
        """End the heartbeats."""
        self.done.set()
        self.join(timeout=5)


@contextmanager
def heartbeat(job: JobRun) -> Iterator[Heartbeat]:
    """Beat ``job``'s heartbeat for as long as the block runs."""
    beat = Heartbeat(job)
    beat.start()
    try:
        yield beat
    finally:
        beat.stop()
