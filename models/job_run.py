"""Job runs: one row for each background job a person or the scheduler asked for.

The row is the job's record: status, totals and progress for pages, a checkpoint that a
redelivered message goes on from, and a heartbeat that tells a live job from a dead one.
Only one run of an actor may be active (queued, running or retrying) per subject; a
partial unique index enforces that when the row is inserted, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Iterable, Sequence
from typing import Any, cast

from peewee import (
    SQL,
    BooleanField,
    CharField,
    DateTimeField,
    IntegerField,
    IntegrityError,
    TextField,
    fn,
)

from models.db import BaseModel, database, tuple_rows, utcnow
from models.fields import JSONField


def user_subject(user_id: int) -> str:
    """The job subject of a user's sync (``JobRun.subject``)."""
    return f"user:{user_id}"


def user_of_subject(subject: str | None) -> int | None:
    """The user id a job subject names (``user:42``), if it names one."""
    kind, _, number = (subject or "").partition(":")
    return int(number) if kind == "user" and number.isdigit() else None


class JobStatus(enum.StrEnum):
    """Where a job run stands; each value is what the ``status`` column holds."""

    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def active(cls) -> tuple[JobStatus, ...]:
        """The statuses of a run not yet ended: queued, running or retrying."""
        return (cls.QUEUED, cls.RUNNING, cls.RETRYING)

    @classmethod
    def finished(cls) -> tuple[JobStatus, ...]:
        """The statuses a run ends with: succeeded, failed or cancelled."""
        return (cls.SUCCEEDED, cls.FAILED, cls.CANCELLED)


# Aliases of the members, kept while other modules still import these names.
QUEUED, RUNNING, RETRYING = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING
SUCCEEDED, FAILED, CANCELLED = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED
ACTIVE = JobStatus.active()
FINISHED = JobStatus.finished()
STATUSES = tuple(JobStatus)

# A running job's worker writes its heartbeat this often (a thread beside the job): one
# small UPDATE a second per running tracked job (a sync, not an update_artist)...
HEARTBEAT_INTERVAL = dt.timedelta(seconds=1)
# ...so a row silent for this long may be claimed by another delivery of its message
# (actors/middleware/job_runs.py). It is below the Redis broker's heartbeat timeout (5 s,
# actors/broker.py), so that the message the broker gives back after a worker died finds
# the row claimable at once rather than being handed back to wait for it. A live worker's
# row stays claimable only if it also misses three beats in a row; even then no second
# delivery exists unless Redis too found its process silent for 5 s. The minutely
# recovery, which sends a second delivery on the row's word alone, waits longer
# (jobs/recovery.py).
HEARTBEAT_TIMEOUT = dt.timedelta(seconds=4)


class Superseded(Exception):
    """Another worker claimed this run after this attempt did (this worker was cut off for
    longer than the heartbeat timeout): the attempt stops at its next checkpoint."""


class JobRun(BaseModel):
    """One background job and everything known about its run."""

    message_id = CharField(max_length=64, unique=True)
    actor = CharField(max_length=64)
    args = JSONField(default=list)
    subject = CharField(max_length=128, null=True)  # e.g. "user:42"
    queue = CharField(max_length=32)
    status = CharField(max_length=16, default=QUEUED)
    requested_by = CharField(max_length=64, null=True)
    # What the job learned and where it stands.
    totals = JSONField(null=True)
    pages_loaded = IntegerField(default=0)
    pages_total = IntegerField(null=True)
    checkpoint = JSONField(null=True)
    progress_current = IntegerField(default=0)
    progress_total = IntegerField(null=True)
    progress_message = TextField(null=True)
    attempts = IntegerField(default=0)
    # Spotify Web API requests the job made (a default in the table too: migration 0003).
    api_requests = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    error = TextField(null=True)
    traceback = TextField(null=True)
    cancel_requested = BooleanField(default=False)
    # Times, all UTC.
    enqueued_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)  # None: the message still has to reach Redis.
    started_at = DateTimeField(null=True)
    heartbeat_at = DateTimeField(null=True)
    # When a waiting job goes on (Spotify's pause, or its backoff after a failure); on a
    # sync that failed while Spotify kept failing, when overlap runs it again by itself.
    resume_at = DateTimeField(null=True)
    eta_at = DateTimeField(null=True)  # When it should end, at the rate seen so far.
    finished_at = DateTimeField(null=True)
    # Spotify's failures since the job last loaded a page (actors/retry_policy.py): how
    # many in a row, since when, and the pages it had at the last one (a failure after more
    # pages starts the count afresh). A default in the table too: migration 0010.
    failures_since_progress = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    failing_since = DateTimeField(null=True)
    pages_at_failure = IntegerField(null=True)

    class Meta:
        table_name = "job_runs"
        indexes = (
            (("subject", "actor", "enqueued_at"), False),
            (("status", "heartbeat_at"), False),
            (("actor", "status"), False),
            (("finished_at",), False),
            # The dashboard's newest-first lists, filtered by status or actor.
            (("status", "id"), False),
            (("actor", "id"), False),
            # The failed syncs whose time to be tried again by themselves came.
            (("status", "resume_at"), False),
        )

    def __repr__(self) -> str:
        return f"<JobRun {self.id} {self.actor} {self.subject} {self.status}>"

    @property
    def is_active(self) -> bool:
        """Whether the job is queued, running or waiting to retry."""
        return self.status in ACTIVE

    def waits_for_queue(self, grace: dt.timedelta, now: dt.datetime | None = None) -> bool:
        """Whether the run waits for its message to reach Redis: waiting, unsent, and asked
        for at least ``grace`` ago (a younger one may be on its way)."""
        return (
            self.status in (QUEUED, RETRYING)
            and self.sent_at is None
            and (now or utcnow()) - self.enqueued_at >= grace
        )

    @classmethod
    def active_for(cls, actor: str, subject: str) -> JobRun | None:
        """The queued, running or retrying run of ``actor`` for ``subject``, if any."""
        return cls.get_or_none(
            (cls.actor == actor) & (cls.subject == subject) & cls.status.in_(ACTIVE)
        )

    @classmethod
    def latest_for(cls, actor: str, subject: str) -> JobRun | None:
        """The most recent run of ``actor`` for ``subject``, whatever its status."""
        latest: JobRun | None = (
            cls.select()
            .where((cls.actor == actor) & (cls.subject == subject))
            .order_by(cls.enqueued_at.desc(), cls.id.desc())
            .first()
        )
        return latest

    @classmethod
    def open(
        cls,
        *,
        message_id: str,
        actor: str,
        args: list[Any],
        subject: str | None,
        queue: str,
        requested_by: str | None = None,
        status: str = QUEUED,
    ) -> tuple[JobRun, bool]:
        """Insert a run, or return the active one for the same actor and subject.

        Returns ``(run, created)``. The unique partial index decides, so two processes
        asking at once get one row between them.
        """
        try:
            with database.atomic():
                run = cls.create(
                    message_id=message_id,
                    actor=actor,
                    args=args,
                    subject=subject,
                    queue=queue,
                    requested_by=requested_by,
                    status=status,
                )
            return run, True
        except IntegrityError:
            existing = cls.active_for(actor, subject) if subject else None
            if existing is None:
                raise
            return existing, False

    @classmethod
    def ids_by_message_id(cls, message_ids: list[str]) -> dict[str, int]:
        """The ids of the runs of these messages, by message id (none for untracked ones)."""
        if not message_ids:
            return {}
        query = cls.select(cls.message_id, cls.id).where(cls.message_id.in_(message_ids))
        return dict(tuple_rows(query))

    @classmethod
    def by_message_id(cls, message_id: str) -> JobRun | None:
        """The run a Dramatiq message belongs to."""
        return cls.get_or_none(cls.message_id == message_id)

    @classmethod
    def by_id(cls, job_id: int) -> JobRun | None:
        """The run with this id, if there is one."""
        return cls.get_or_none(cls.id == job_id)

    @classmethod
    def active_count(cls) -> int:
        """How many runs are queued, running or retrying."""
        return cls.select().where(cls.status.in_(ACTIVE)).count()

    @classmethod
    def count_by_status(cls, statuses: Sequence[str]) -> dict[str, int]:
        """How many runs have each of ``statuses`` (0 where none has it), in one query."""
        query = (
            cls.select(cls.status, fn.COUNT(cls.id))
            .where(cls.status.in_(list(statuses)))
            .group_by(cls.status)
        )
        # peewee's stubs type .tuples() as the model query; its rows are (status, count).
        counted = dict(cast("Iterable[tuple[str, int]]", query.tuples()))
        return {status: counted.get(status, 0) for status in statuses}

    @classmethod
    def newest_failed_count(cls, actors: Collection[str], limit: int) -> int:
        """How many of the ``limit`` newest failed runs are runs of ``actors``.

        Bounded, so that it reads at most ``limit`` entries of the (status, id) index instead
        of counting every failure the table holds.
        """
        newest = cls.select(cls.id).where(cls.status == FAILED).order_by(cls.id.desc()).limit(limit)
        return cls.select().where(cls.id.in_(newest) & cls.actor.in_(list(actors))).count()

    def claim(self, stale_before: dt.datetime) -> bool:
        """Mark the run running for this worker; False when it is not for taking.

        A run is taken when it waits (queued or retrying), or when it says running but its
        heartbeat stopped before ``stale_before`` (its worker died). A duplicate delivery
        of a live or finished run is refused, so a job never runs twice at once. Each claim
        is a new attempt (``attempts``, compared and set): what an attempt records at its end
        is kept only while no later attempt claimed the run (see ``finish``).
        """
        now = utcnow()
        taken = (
            JobRun.update(
                status=RUNNING,
                started_at=fn.COALESCE(JobRun.started_at, now),
                heartbeat_at=now,
                attempts=JobRun.attempts + 1,
                resume_at=None,
            )
            .where(
                (JobRun.id == self.id)
                & (
                    JobRun.status.in_((QUEUED, RETRYING))
                    | ((JobRun.status == RUNNING) & (JobRun.heartbeat_at < stale_before))
                )
                & ~JobRun.cancel_requested
                & (JobRun.attempts == self.attempts)
            )
            .execute()
        )
        if taken:
            self.status, self.heartbeat_at = RUNNING, now
            self.attempts += 1
        return bool(taken)

    def beat(self) -> None:
        """Write a fresh heartbeat (only while this attempt is the run's latest)."""
        now = utcnow()
        JobRun.update(heartbeat_at=now).where(self._this_attempt(self.attempts)).execute()

    def save_checkpoint(self, checkpoint: dict[str, Any], **fields: Any) -> None:
        """Store where the job stands (and any other fields), with a fresh heartbeat; raise
        ``Superseded`` when another worker has claimed the run since this attempt did."""
        now = utcnow()
        fields.update(checkpoint=checkpoint, heartbeat_at=now)
        written = (
            JobRun.update({getattr(JobRun, k): v for k, v in fields.items()})
            .where(self._this_attempt(self.attempts))
            .execute()
        )
        if not written:
            raise Superseded(f"{self!r}: attempt {self.attempts} was taken over by another worker")
        for name, value in fields.items():
            setattr(self, name, value)

    def finish(
        self,
        status: str,
        error: str | None = None,
        tb: str | None = None,
        resume_at: dt.datetime | None = None,
        attempt: int | None = None,
    ) -> bool:
        """Record how the run ended; ``resume_at``: when overlap runs it again by itself
        (a sync that failed while Spotify kept failing). With ``attempt`` (the worker's
        claim), only if no later attempt claimed the run since: a worker cut off from the
        others, whose run another worker took over (and maybe finished), records nothing.
        Whether it was recorded."""
        now = utcnow()
        written = (
            JobRun.update(
                status=status, error=error, traceback=tb, finished_at=now, resume_at=resume_at
            )
            .where(self._this_attempt(attempt))
            .execute()
        )
        if written:
            self.status, self.error, self.traceback, self.finished_at = status, error, tb, now
            self.resume_at = resume_at
        return bool(written)

    def _this_attempt(self, attempt: int | None) -> Any:
        """This run's row, and with ``attempt`` only while that attempt is the latest."""
        if attempt is None:
            return JobRun.id == self.id
        return (JobRun.id == self.id) & (JobRun.attempts == attempt)

    def set_waiting(
        self,
        status: str,
        error: str | None = None,
        resume_at: dt.datetime | None = None,
        unsent: bool = False,
        failing: bool = False,
        attempt: int | None = None,
    ) -> bool:
        """Put the run back to waiting (retrying after an error, or deferred); ``unsent``
        when its next message did not reach Redis, so that it is sent again later.

        ``failing``: Spotify failed this try, and the failures in a row are kept; any other
        reason to wait (a 429's pause, a hand-back) breaks the row, so they start afresh.
        ``attempt``: as for ``finish``. Whether it was recorded.
        """
        fields: dict[str, Any] = {"status": status, "error": error, "resume_at": resume_at}
        if unsent:
            fields["sent_at"] = None
        if not failing and self.failures_since_progress:
            fields.update(failures_since_progress=0, failing_since=None, pages_at_failure=None)
        written = JobRun.update(**fields).where(self._this_attempt(attempt)).execute()
        if written:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(written)

    def save_failures(self, failures: int, since: dt.datetime | None, pages: int | None) -> None:
        """Store Spotify's failures in a row without a page: how many, since when, and the
        pages loaded at the last one."""
        self.failures_since_progress, self.failing_since, self.pages_at_failure = (
            failures,
            since,
            pages,
        )
        JobRun.update(
            failures_since_progress=failures, failing_since=since, pages_at_failure=pages
        ).where(JobRun.id == self.id).execute()

    @classmethod
    def due_to_try_again(cls, now: dt.datetime, limit: int = 100) -> list[JobRun]:
        """Failed runs that overlap runs again by itself, whose time came by ``now``."""
        return list(
            cls.select()
            .where((cls.status == FAILED) & (cls.resume_at <= now))
            .order_by(cls.resume_at)
            .limit(limit)
        )

    def take_try_again(self) -> bool:
        """Claim running this failed run again (its ``resume_at`` is cleared); False when
        another scheduler pass or process took it first."""
        if self.resume_at is None:
            return False
        taken = (
            JobRun.update(resume_at=None)
            .where(
                (JobRun.id == self.id)
                & (JobRun.status == FAILED)
                & (JobRun.resume_at == self.resume_at)
            )
            .execute()
        )
        self.resume_at = None
        return bool(taken)

    def carry_on_from(self, earlier: JobRun) -> None:
        """Start where ``earlier`` (a run of the same job) stopped: its checkpoint, its
        progress, its request count and its failures in a row."""
        fields = {
            name: getattr(earlier, name)
            for name in (
                "totals",
                "pages_loaded",
                "pages_total",
                "checkpoint",
                "progress_current",
                "progress_total",
                "progress_message",
                "api_requests",
                "failures_since_progress",
                "failing_since",
                "pages_at_failure",
            )
        }
        for name, value in fields.items():
            setattr(self, name, value)
        JobRun.update({getattr(JobRun, k): v for k, v in fields.items()}).where(
            JobRun.id == self.id
        ).execute()

    def request_cancel(self) -> str:
        """Ask the job to stop; returns what became of it.

        A waiting job (queued or retrying) is cancelled at once, and its message is skipped
        when a worker takes it. A running one is flagged and stops at its next checkpoint.
        Returns ``cancelled``, ``cancelling`` or ``finished`` (nothing to cancel).
        """
        now = utcnow()
        waiting = (
            JobRun.update(status=CANCELLED, cancel_requested=True, finished_at=now)
            .where((JobRun.id == self.id) & JobRun.status.in_((QUEUED, RETRYING)))
            .execute()
        )
        if waiting:
            self.status, self.cancel_requested, self.finished_at = CANCELLED, True, now
            return "cancelled"
        running = (
            JobRun.update(cancel_requested=True)
            .where((JobRun.id == self.id) & (JobRun.status == RUNNING))
            .execute()
        )
        if running:
            self.cancel_requested = True
            return "cancelling"
        return "finished"

    @classmethod
    def cancel_waiting(cls, message_ids: Collection[str]) -> int:
        """End as cancelled the waiting (queued or retrying) runs of these messages, whose
        messages an operator took off the queue; how many ended (one query)."""
        if not message_ids:
            return 0
        return int(
            cls.update(status=CANCELLED, cancel_requested=True, finished_at=utcnow())
            .where(cls.message_id.in_(list(message_ids)) & cls.status.in_((QUEUED, RETRYING)))
            .execute()
        )

    @classmethod
    def search(
        cls,
        *,
        status: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since: dt.datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[JobRun]:
        """The newest runs matching every filter given, ``limit`` at most, ids below
        ``before_id`` (keyset paging: no OFFSET, so page 1,000 costs what page 1 does).

        A status or actor filter walks its (status, id) or (actor, id) index from the top.
        """
        query = cls.select()
        if status is not None:
            query = query.where(cls.status == status)
        if actor is not None:
            query = query.where(cls.actor == actor)
        if subject is not None:
            query = query.where(cls.subject == subject)
        if since is not None:
            query = query.where(cls.enqueued_at >= since)
        if before_id is not None:
            query = query.where(cls.id < before_id)
        return list(query.order_by(cls.id.desc()).limit(limit))

    @classmethod
    def stale_running(cls, stale_before: dt.datetime, limit: int = 100) -> list[JobRun]:
        """Runs that say running but whose heartbeat stopped before ``stale_before``."""
        return list(
            cls.select()
            .where((cls.status == RUNNING) & (cls.heartbeat_at < stale_before))
            .order_by(cls.heartbeat_at)
            .limit(limit)
        )

    @classmethod
    def unsent(cls, older_than: dt.datetime, limit: int = 100) -> list[JobRun]:
        """Waiting runs whose message never reached Redis: asked for while it was down, or
        a retry it refused."""
        return list(
            cls.select()
            .where(
                cls.status.in_((QUEUED, RETRYING))
                & cls.sent_at.is_null()
                & (cls.enqueued_at < older_than)
            )
            .order_by(cls.id)
            .limit(limit)
        )

    @classmethod
    def not_sent_since(
        cls, since: dt.datetime, after_id: int = 0, limit: int = 100
    ) -> list[JobRun]:
        """Queued and retrying runs whose message was last sent before ``since``, or never,
        by id after ``after_id`` (keyset pages)."""
        return list(
            cls.select()
            .where(
                cls.status.in_((QUEUED, RETRYING))
                & (cls.sent_at.is_null() | (cls.sent_at < since))
                & (cls.id > after_id)
            )
            .order_by(cls.id)
            .limit(limit)
        )


# Enforced by the database when a row is inserted: one active run per actor and subject.
JobRun.add_index(
    JobRun.index(JobRun.actor, JobRun.subject, unique=True, name="job_runs_one_active").where(
        JobRun.status.in_(ACTIVE)
    )
)
