"""The operator's commands of the CLI: list, show, cancel and retry job runs; look at,
pause or purge the queues and list or delete their messages; list, requeue or delete their
dead letters. They call the same functions as the dashboard (``ops``), print one line per
thing, or one line of error, and write each action to the audit trail as ``cli:<login name>``."""

from __future__ import annotations

import getpass
import sys

from config.redis_ref import RedisRef
from jobs.actions import JobActionError, cancel_active, retry_all_failed, retry_job
from models import AuditEntry, JobRun
from models.job_run import STATUSES
from ops import dead_letters as dead
from ops import queue_messages as messages
from ops.pause import pause_queue, paused_queues, resume_queue
from ops.queues import queue_stats


def _fail(message: str, code: int = 1) -> int:
    print(f"overlap: {message}", file=sys.stderr)
    return code


def who() -> str:
    """Who acts from the CLI, as the audit trail names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        return "cli"


def audit(action: str, target: str, count: int = 1) -> None:
    """Write one CLI action to the audit trail."""
    AuditEntry.record(who(), action, target, count)


def _job(raw: str) -> JobRun | None:
    # isascii too: str.isdigit accepts digits such as "²" that int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        return None
    return JobRun.by_id(int(raw))


def _line(job: JobRun) -> str:
    progress = f"{job.progress_current}/{job.progress_total}" if job.progress_total else "-"
    when = job.enqueued_at.strftime("%Y-%m-%d %H:%M:%S")
    subject = job.subject or "-"
    return f"{job.id:>8}  {job.status:<9}  {job.actor:<18}  {subject:<16}  {progress:>9}  {when}"


def list_jobs(status: str | None, actor: str | None, limit: int) -> int:
    """Print the newest job runs, filtered."""
    if status is not None and status not in STATUSES:
        return _fail(f"--status must be one of {', '.join(STATUSES)}, not {status!r}", 2)
    if not 1 <= limit <= 1000:
        return _fail("--limit must be from 1 to 1000", 2)
    for job in JobRun.search(status=status, actor=actor, limit=limit):
        print(_line(job))
    return 0


def show_job(raw_id: str) -> int:
    """Print everything about one job run."""
    job = _job(raw_id)
    if job is None:
        return _fail(f"no job with id {raw_id!r}")
    print(_line(job))
    for name in ("queue", "args", "requested_by", "attempts", "api_requests", "progress_message",
                 "eta_at", "started_at", "heartbeat_at", "finished_at", "error"):  # fmt: skip
        value = getattr(job, name)
        if value not in (None, ""):
            print(f"  {name}: {value}")
    if job.traceback:
        print(job.traceback.rstrip())
    return 0


def cancel_job(raw_id: str) -> int:
    """Cancel one job run (``all``: every active one)."""
    if raw_id == "all":
        outcomes = cancel_active()
        audit("cancel-all", "jobs:active", sum(outcomes.values()))
        print(f"{sum(outcomes.values())} jobs asked to stop: {outcomes or 'none active'}")
        return 0
    job = _job(raw_id)
    if job is None:
        return _fail(f"no job with id {raw_id!r}")
    outcome = job.request_cancel()
    if outcome == "finished":
        return _fail(f"job {job.id} already ended {job.status}")
    audit("cancel", f"job:{job.id}")
    print(f"job {job.id}: {outcome}")
    return 0


def retry(raw_id: str) -> int:
    """Retry a failed or cancelled job run (``failed``: every failed one)."""
    if raw_id == "failed":
        made = retry_all_failed(requested_by=who())
        audit("retry-all", "jobs:failed", made)
        print(f"{made} failed jobs sent again")
        return 0
    job = _job(raw_id)
    if job is None:
        return _fail(f"no job with id {raw_id!r}")
    try:
        result = retry_job(job, requested_by=who())
    except JobActionError as problem:
        return _fail(str(problem))
    audit("retry", f"job:{job.id}", int(result.created))
    state = "sent as" if result.created else "already active as"
    print(f"job {job.id}: {state} job {result.job.id}")
    return 0


def queues(ref: RedisRef, action: str, queue: str | None) -> int:
    """Print each queue's counts, or pause or resume one."""
    from jobs.queueing import QUEUES

    if action == "stats":
        print(f"{'queue':<12} {'waiting':>8} {'running':>8} {'delayed':>8} {'failed':>8}  state")
        for q in queue_stats(ref):
            state = "paused" if q.paused else "running"
            counts = f"{q.waiting:>8} {q.processing:>8} {q.delayed:>8} {q.failed:>8}"
            print(f"{q.queue:<12} {counts}  {state}")
        return 0
    if queue not in QUEUES:
        return _fail(f"no queue {queue!r}; the queues are {', '.join(QUEUES)}", 2)
    (pause_queue if action == "pause" else resume_queue)(ref, queue)
    audit(action, f"queue:{queue}")
    paused = queue in paused_queues(ref)
    print(f"{queue}: {'paused' if paused else 'running'}")
    return 0


def dead_letters(ref: RedisRef, action: str | None, rest: list[str]) -> int:
    """``list [QUEUE]``, ``requeue QUEUE ID|all`` or ``delete QUEUE ID|all`` dead letters."""
    from jobs.queueing import QUEUES

    usage = "usage: overlap queues dead list [QUEUE] | requeue QUEUE ID|all | delete QUEUE ID|all"
    if action == "list" and len(rest) <= 1:
        shown = rest or list(QUEUES)
        if any(q not in QUEUES for q in shown):
            return _fail(f"no queue {shown[0]!r}; the queues are {', '.join(QUEUES)}", 2)
        for queue in shown:
            print(f"{queue}: {dead.count_dead(ref, queue):,} dead")
            for d in dead.list_dead(ref, queue, limit=dead.PAGE):
                when = d.died_at.strftime("%Y-%m-%d %H:%M:%S")
                print(f"  {d.id}  {when}  {d.actor}({d.arguments[:60]})  x{d.attempts}  {d.error}")
        return 0
    if action not in ("requeue", "delete") or len(rest) != 2:
        return _fail(usage, 2)
    queue, which = rest
    if queue not in QUEUES:
        return _fail(f"no queue {queue!r}; the queues are {', '.join(QUEUES)}", 2)
    if which == "all":
        n = (dead.requeue_all_dead if action == "requeue" else dead.delete_all_dead)(ref, queue)
    else:
        n = (dead.requeue_dead if action == "requeue" else dead.delete_dead)(ref, queue, [which])
        if n == 0:
            return _fail(f"no dead message {which!r} on {queue}")
    audit(action, f"dead:{queue}:{which}", n)
    print(f"{queue}: {n:,} dead messages {'requeued' if action == 'requeue' else 'deleted'}")
    return 0


def queue_messages(
    ref: RedisRef, action: str, queue: str | None, more: list[str], yes: bool
) -> int:
    """``list QUEUE [KIND] [SKIP]``, ``delete QUEUE ID`` or ``purge QUEUE --yes``: the
    messages inside a queue, as the dashboard's queue page lists and removes them."""
    from jobs.queueing import QUEUES

    if queue not in QUEUES:
        return _fail(f"no queue {queue!r}; the queues are {', '.join(QUEUES)}", 2)
    if action == "list":
        return _list_messages(ref, queue, more)
    if action == "delete":
        if len(more) != 1:
            return _fail("usage: overlap queues delete QUEUE MESSAGE_ID", 2)
        removed = messages.delete_message(ref, queue, more[0])
        if removed is None:
            return _fail(f"no waiting or delayed message {more[0]!r} on {queue}")
        audit("delete", f"queue:{queue}:{more[0]}", removed.messages)
        print(f"{queue}: message deleted; {removed.cancelled_jobs} job runs cancelled")
        return 0
    if not yes:
        n = messages.count_removable(ref, queue)
        return _fail(f"purge would delete {n:,} messages from {queue}; add --yes to do it", 2)
    removed = messages.purge_queue(ref, queue)
    audit("purge", f"queue:{queue}", removed.messages)
    cancelled = removed.cancelled_jobs
    print(f"{queue}: {removed.messages:,} messages deleted; {cancelled:,} job runs cancelled")
    return 0


def _list_messages(ref: RedisRef, queue: str, more: list[str]) -> int:
    kind = more[0] if more else "waiting"
    skip = more[1] if len(more) > 1 else "0"
    if kind not in messages.KINDS or not (skip.isascii() and skip.isdigit()) or len(more) > 2:
        return _fail(f"usage: overlap queues list QUEUE [{'|'.join(messages.KINDS)}] [SKIP]", 2)
    page, counts = messages.read_queue(ref, queue, kind, int(skip))
    print(", ".join(f"{n:,} {k}" for k, n in counts.items()))
    for m in page.messages:
        sent = m.sent_at.strftime("%Y-%m-%d %H:%M:%S") if m.sent_at else "-"
        due = f"  due {m.runs_at:%Y-%m-%d %H:%M:%S}" if m.runs_at else ""
        print(f"  {m.id}  {sent}  {m.actor}({m.arguments[:60]})  retries {m.retries}{due}")
    if page.next_skip is not None:
        print(f"  more: overlap queues list {queue} {kind} {page.next_skip}")
    return 0
