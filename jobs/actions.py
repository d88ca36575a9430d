"""What an operator does to jobs: retry, cancel, clean. The dashboard and the CLI call
these same functions.

A retry is a new run of the same actor, arguments and subject, asked for by the operator:
the failed run stays as it was, for the record. The one-active-run-per-subject rule still
holds, so retrying a user's failed sync while another sync of theirs is queued gives back
that queued one instead of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs import queueing
from jobs.queueing import send_job
from models import JobRun
from models.job_run import ACTIVE, CANCELLED, FAILED

RETRYABLE = (FAILED, CANCELLED)
# Actors whose runs are worth retrying by hand, with the queue each is sent to (a run
# started from the CLI says "cli", which no worker reads).
QUEUE_OF = {
    queueing.UPDATE_USER: queueing.INTERACTIVE_QUEUE,
    queueing.REFRESH_LISTENERS: queueing.PERIODIC_QUEUE,
}


class JobActionError(ValueError):
    """The action does not apply to this job (the message says why)."""


@dataclass
class Retried:
    """The run a retry made, or the active one it found; ``sent``: the message left."""

    job: JobRun
    created: bool
    sent: bool


def retry_job(job: JobRun, requested_by: str = "admin") -> Retried:
    """Run a failed or cancelled job again, as a new run."""
    if job.status not in RETRYABLE:
        raise JobActionError(
            f"only failed or cancelled jobs can be retried; this one is {job.status}"
        )
    queue = QUEUE_OF.get(job.actor)
    if queue is None:
        raise JobActionError(f"{job.actor} jobs cannot be retried by hand")
    message = queueing.build_message(job.actor, queue, job.args)
    new, created = JobRun.open(
        message_id=message.message_id,
        actor=job.actor,
        args=list(job.args),
        subject=job.subject,
        queue=queue,
        requested_by=requested_by,
    )
    sent = send_job(new, message) if created else bool(new.sent_at)
    return Retried(job=new, created=created, sent=sent)


def retry_all_failed(requested_by: str = "admin", limit: int = 1000) -> int:
    """Retry the newest ``limit`` failed runs that nothing retried since; returns how many."""
    made, seen = 0, set()
    for job in JobRun.search(status=FAILED, limit=limit):
        key = (job.actor, job.subject or f"job:{job.id}")
        if key in seen or job.actor not in QUEUE_OF:
            continue
        seen.add(key)
        newer = (
            JobRun.select()
            .where((JobRun.actor == job.actor) & (JobRun.subject == job.subject))
            .where(JobRun.id > job.id)
            .exists()
            if job.subject
            else False
        )
        if not newer:
            made += retry_job(job, requested_by).created
    return made


def cancel_active(limit: int = 10_000) -> dict[str, int]:
    """Ask every queued, running or retrying job to stop; counts by outcome."""
    outcomes: dict[str, int] = {}
    for job in JobRun.select().where(JobRun.status.in_(ACTIVE)).order_by(JobRun.id).limit(limit):
        outcome = job.request_cancel()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
