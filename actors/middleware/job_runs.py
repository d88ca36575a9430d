"""Keeping each tracked job's row true through the message's life.

Actors declared with ``tracked=True`` have a row in ``job_runs``. Before a message runs,
its row is claimed (a duplicate delivery of a live or finished job is skipped); after, the
row records success, a retry to come (with its error and when), or the final failure.
Untracked actors (the many tiny ``update_artist``) pay nothing here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from dramatiq import Broker, Middleware, Retry
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage
from peewee import PeeweeException

from actors.middleware.database import UNAVAILABLE_DELAY_MS
from actors.middleware.hand_back import hand_back
from config import logs
from jobs.tracking import Heartbeat, describe, finish_ok
from models import JobRun
from models.db import utcnow
from models.job_run import (
    CANCELLED,
    FAILED,
    HEARTBEAT_TIMEOUT,
    RETRYING,
    RUNNING,
    user_of_subject,
)

log = logging.getLogger(__name__)
_local = threading.local()

# Message options the Retries middleware (after this one in the list, so its hook runs
# first) sets for this one: the retry did not reach Redis; and, for a tracked job Spotify
# failed (see actors/retry_policy.py), when its next try comes, or, when it gave up, when
# overlap runs it again by itself (an ISO time, UTC).
RETRY_UNSENT = "overlap_retry_unsent"
NEXT_TRY_AT = "overlap_next_try_at"


def current_job() -> JobRun | None:
    """The job row of the message this thread is running, if it is tracked."""
    return getattr(_local, "job", None)


class JobRuns(Middleware):
    """Claims, and then closes, the row of every tracked job."""

    @property
    def actor_options(self) -> set[str]:
        return {"tracked"}

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        _local.job = None
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get("tracked"):
            return
        try:
            job = self._claim(broker, message)
        except PeeweeException:
            # The database went away after the connection opened: try again later.
            hand_back(broker, message, UNAVAILABLE_DELAY_MS, "the database is unavailable")
        _local.job = job
        logs.bind(job_id=job.id, user_id=user_of_subject(job.subject))
        _local.heartbeat = Heartbeat(job)
        _local.heartbeat.start()

    def _claim(self, broker: Broker, message: MessageProxy) -> JobRun:
        """The message's row, claimed for this worker; skips the message when it is not
        for taking."""
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
        stale_before = utcnow() - HEARTBEAT_TIMEOUT
        if not job.claim(stale_before=stale_before):
            _wait_while_it_beats(broker, message, job, stale_before)
            raise SkipMessage(f"{job!r} is not waiting to run")
        return job

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        job, _local.job = current_job(), None
        if job is None:
            return
        _local.heartbeat.stop()
        next_try = message.options.pop(NEXT_TRY_AT, None)
        next_at = dt.datetime.fromisoformat(next_try) if next_try else None
        # Every outcome is recorded only if no other worker claimed the run since this one
        # did (a worker cut off from the database and Redis for longer than the heartbeat
        # timeout, whose run another worker took over): its late retry then finds the row
        # finished or running elsewhere, and is skipped (tests/rig, the partition).
        attempt = job.attempts
        if exception is None:
            _outcome(job, attempt, finish_ok(job, attempt), "succeeded")
        elif message.failed:
            failed = job.finish(
                FAILED,
                error=describe(exception),
                tb=message.options.get("traceback"),
                resume_at=next_at,
                attempt=attempt,
            )
            said = f"failed: {describe(exception)}"
            _outcome(job, attempt, failed, said, said, level=logging.WARNING)
        else:
            _record_retry(job, message, exception, next_at, failing=next_try is not None)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        """A middleware after this one skipped the claimed message (too old for AgeLimit
        or periodiq): end the row, so it never says running with nothing behind it."""
        job, _local.job = current_job(), None
        if job is None:
            return
        _local.heartbeat.stop()
        status = FAILED if message.failed else CANCELLED
        job.finish(status, error="Skipped before it ran: it waited too long in the queue")


def _record_retry(
    job: JobRun,
    message: MessageProxy,
    exception: BaseException,
    next_at: dt.datetime | None,
    failing: bool,
) -> None:
    """Put the row back to retrying, if this attempt is still the run's latest."""
    delay_ms = exception.delay if isinstance(exception, Retry) else None
    resume = utcnow() + dt.timedelta(milliseconds=delay_ms) if delay_ms else next_at
    # Redis refused the retry (see actors/middleware/retries.py): the row is unsent, so
    # that it is sent again when Redis is back.
    unsent = bool(message.options.pop(RETRY_UNSENT, False))
    attempt = job.attempts
    waiting = job.set_waiting(
        RETRYING,
        error=describe(exception),
        resume_at=resume,
        unsent=unsent,
        failing=failing,
        attempt=attempt,
    )
    said = describe(exception)
    _outcome(job, attempt, waiting, f"will try again: {said}", f"stopped: {said}")


def _outcome(
    job: JobRun, attempt: int, recorded: bool, said: str, instead: str | None = None,
    level: int = logging.INFO,
) -> None:  # fmt: skip
    """Log what the attempt recorded (``job 5 succeeded``), or, when another worker took
    the run over meanwhile and the row was left alone, what it would have (``instead``)."""
    if recorded:
        log.log(level, "%s job %d %s", job.actor, job.id, said)
    else:
        _superseded(job, attempt, instead or said)


def _superseded(job: JobRun, attempt: int, outcome: str) -> None:
    log.warning(
        "%s job %d: attempt %d %s, but another worker took the run over meanwhile; "
        "its outcome is left to that worker",
        job.actor, job.id, attempt, outcome,
    )  # fmt: skip


def _wait_while_it_beats(
    broker: Broker, message: MessageProxy, job: JobRun, stale_before: dt.datetime
) -> None:
    """Hand the message back while its row says running with a fresh heartbeat.

    Either another worker runs the job (this is a duplicate delivery: it is skipped once
    the run ends), or the worker lost the database in the middle of the job and could not
    record its retry, and this is that retry: it claims the row once the heartbeat is
    stale, instead of being skipped and leaving the row running for ever.
    """
    row = JobRun.get_or_none(JobRun.id == job.id)
    if row is None or row.status != RUNNING or not row.heartbeat_at:
        return
    if row.heartbeat_at < stale_before:
        return
    wait_ms = int((row.heartbeat_at - stale_before).total_seconds() * 1000) + 1_000
    hand_back(broker, message, wait_ms, f"{job!r} still says running; back in {wait_ms} ms")


def _subject(message: MessageProxy) -> str | None:
    """Periodic jobs have one subject each, their actor: one may run at a time."""
    return f"actor:{message.actor_name}" if not message.args else None
