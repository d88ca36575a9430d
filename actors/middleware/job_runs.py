"""Keeping each tracked job's row true through the message's life.

Actors declared with ``tracked=True`` have a row in ``job_runs``. Before a message runs,
its row is claimed (a duplicate delivery of a live or finished job is skipped); after, the
row records success, a retry to come (with its error and when), or the final failure.
Untracked actors (the many tiny ``update_artist``) pay nothing here.
"""

from __future__ import annotations

import datetime as dt
import threading

from dramatiq import Broker, Message, Middleware, Retry
from dramatiq.middleware import SkipMessage
from peewee import PeeweeException

from models import JobRun, database
from models.db import utcnow
from models.job_run import (
    CANCELLED,
    FAILED,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    RETRYING,
    SUCCEEDED,
)

_local = threading.local()


def current_job() -> JobRun | None:
    """The job row of the message this thread is running, if it is tracked."""
    return getattr(_local, "job", None)


class JobRuns(Middleware):
    """Claims, and then closes, the row of every tracked job."""

    @property
    def actor_options(self) -> set[str]:
        return {"tracked"}

    def before_process_message(self, broker: Broker, message: Message) -> None:
        _local.job = None
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get("tracked"):
            return
        job = JobRun.by_message_id(message.message_id)
        if job is None:
            # Sent without a row (by periodiq, or by hand): open one now.
            job, created = JobRun.open(
                message_id=message.message_id,
                actor=message.actor_name,
                args=list(message.args),
                subject=_subject(message),
                queue=message.queue_name,
                requested_by="scheduler",
            )
            if not created:
                raise SkipMessage(f"{job!r} is already queued or running")
        if not job.claim(stale_before=utcnow() - HEARTBEAT_TIMEOUT):
            raise SkipMessage(f"{job!r} is not waiting to run")
        _local.job = job
        _local.heartbeat = _Heartbeat(job)
        _local.heartbeat.start()

    def after_process_message(
        self,
        broker: Broker,
        message: Message,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        job, _local.job = current_job(), None
        if job is None:
            return
        _local.heartbeat.stop()
        if exception is None:
            job.finish(CANCELLED if job.cancel_requested else SUCCEEDED)
        elif message.failed:
            job.finish(FAILED, error=_describe(exception), tb=message.options.get("traceback"))
        else:
            delay_ms = exception.delay if isinstance(exception, Retry) else None
            resume = utcnow() + dt.timedelta(milliseconds=delay_ms) if delay_ms else None
            job.set_waiting(RETRYING, error=_describe(exception), resume_at=resume)


    def after_skip_message(self, broker: Broker, message: Message) -> None:
        """A middleware after this one skipped the claimed message (too old for AgeLimit
        or periodiq): end the row, so it never says running with nothing behind it."""
        job, _local.job = current_job(), None
        if job is None:
            return
        _local.heartbeat.stop()
        status = FAILED if message.failed else CANCELLED
        job.finish(status, error="Skipped before it ran: it waited too long in the queue")


def _subject(message: Message) -> str | None:
    """Periodic jobs have one subject each, their actor: one may run at a time."""
    return f"actor:{message.actor_name}" if not message.args else None


def _describe(exception: BaseException) -> str:
    text = str(exception) or type(exception).__name__
    return f"{type(exception).__name__}: {text}"[:2000]


class _Heartbeat(threading.Thread):
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
