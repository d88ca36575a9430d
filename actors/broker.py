"""The one broker module: every process (web, workers, scheduler) builds its broker here,
so that all of them see the same middleware in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
import dramatiq.brokers.redis
import dramatiq.worker
import redis
from dramatiq import Consumer, Middleware
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)
from periodiq import PeriodiqMiddleware

from actors.middleware.daily_budget import DailyBudget
from actors.middleware.database import DatabaseConnection
from actors.middleware.dead_letter_errors import DeadLetterErrors
from actors.middleware.deleted_messages import DeletedMessages
from actors.middleware.graceful_stop import GracefulStop
from actors.middleware.job_counters import JobCounters
from actors.middleware.job_runs import JobRuns
from actors.middleware.log_context import LogContext
from actors.middleware.queue_maintenance import QueueMaintenance
from actors.middleware.queue_pause import QueuePause
from actors.middleware.resend_after_outage import ResendAfterOutage
from actors.middleware.retries import Retries
from actors.middleware.worker_registry import WorkerRegistry
from config.settings import Settings
from jobs.queueing import INTERACTIVE_QUEUE, QUEUES, SHARED_QUEUE
from models.db import shared_millis
from ops.clock import RedisClock

# Dramatiq's Redis broker brings back the messages of a worker process whose heartbeat is
# this old, during maintenance. A live process beats on every broker call it makes: each
# consumer fetches at least once a second (dramatiq's worker_timeout, even while a long
# message runs: its prefetch is twice its threads, a delay queue's a thousand times), and
# QueueMaintenance beats once a second from a thread of its own. So 5 s is five missed
# beats of that thread alone; while two busy loops held both cores at a load average of
# 90, the heartbeat was never older than 0.31 s (tests/faults/test_starved_worker.py).
# A SIGKILLed worker's message is back within a second of the timeout, the job's row is
# claimable by then (models/job_run.py: 4 s), and another worker took the sync up 5.1 to
# 7.3 s after the kill (tests/faults/test_host_death.py; 15 to 26 s with 15 s and
# maintenance by chance). Dramatiq's default is 60 s.
HEARTBEAT_TIMEOUT_MS = 5_000
# No maintenance by chance: each worker process runs it once a second on the queues it
# consumes (actors/middleware/queue_maintenance.py). At 25 % of broker calls, as before,
# the queue of a killed worker's message waited a geometric number of fetches for its turn
# (up to 11 s more after the timeout), and every enqueue of the web paid for it too.
MAINTENANCE_CHANCE = 0  # out of a million broker calls

# Dramatiq stamps every broker call's heartbeat, and a delayed message's due time, with
# ``current_millis()`` of the host it runs on, and its worker releases delayed messages by
# the same clock. With a 5 s heartbeat timeout, a worker 4 s behind (under the 5 s that
# holds its fetching, ops/clock.py) would look dead to QueueMaintenance, which judges on
# Redis's clock, and lose the messages it runs. So Dramatiq's broker and worker read the
# shared clock: the host's, corrected by the offset the worker measured against Redis's
# TIME (zero until measured, and in processes that never measure it). dramatiq is pinned
# in pyproject.toml for such reliance on its internals; tests/ops/test_clock.py holds it.
dramatiq.brokers.redis.current_millis = shared_millis
dramatiq.worker.current_millis = shared_millis


# Dramatiq calls the ``before_*`` hooks in list order and the ``after_*`` hooks in reverse,
# and a ``SkipMessage`` raised by a ``before_process_message`` stops the ones after it. So a
# middleware that puts a message back comes before those it spares, and one whose after
# hook reads what Retries decided comes before Retries. Each line of ``app_middleware``
# says which order it relies on; ``ORDER`` below states every pair that depends on it, and
# tests/actors/test_broker.py checks the list against it.
def app_middleware(settings: Settings) -> list[Middleware]:
    """The worker's middleware, in order: a fresh list of fresh instances."""
    return [
        # Names the message in every line the others write about it: its before hook runs
        # first and its after hooks last.
        LogContext(),
        # before_process_message first of the rest: a paused queue's message goes back to
        # Redis before any other hook sees it (not counted, not listed, no connection, no
        # job row); then a delayed message an operator deleted while we held it is skipped.
        QueuePause(clock=(clock := RedisClock())),  # WorkerRegistry lists the same clock
        DeletedMessages(),
        # Right after the pause, before every hook that counts, lists or connects: a bulk
        # message past the day's bulk share goes back until tomorrow unseen. Installed only
        # with a budget (SPOTIFY_DAILY_BUDGET): without one it costs a check for nothing.
        *([DailyBudget(settings)] if settings.spotify_daily_budget else []),
        # Starts its clock before the database wait and the claim, so their skips count as
        # skipped and their time as the job's; its after hook runs after Retries' (it comes
        # before it), so it tells a failure from a retry.
        JobCounters(),
        # Lists the message as running from before the database wait, so a thread waiting
        # for the database shows what it holds; after the put-backs, so they are not listed.
        WorkerRegistry(clock=clock),
        # Opens the connection before JobRuns claims the row; its after hook, run after
        # JobRuns', closes it once the outcome is written.
        DatabaseConnection(),
        # Claims the row before the skips of AgeLimit and periodiq (its after_skip_message
        # ends the claimed row) and before TimeLimit's clock starts; its after hook runs
        # after Retries' and reads its decision (failed, traceback, unsent retry).
        JobRuns(),
        # No message hooks (threads only): their place changes nothing.
        ResendAfterOutage(),
        QueueMaintenance(),
        GracefulStop(),
        # Its after hook runs after Retries' (it comes before it), so it knows whether the
        # try was the last one.
        DeadLetterErrors(),
        # Dramatiq's own, in Dramatiq's default order. After JobRuns: TimeLimit's clock
        # covers the actor alone, and the skips of AgeLimit land on a claimed row.
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        # Dramatiq's Retries, noting a retry that Redis refused (the job row is then sent
        # later). Last of the message middleware, so its after hook runs first.
        Retries(),
        # periodiq: skips a periodic message that waited too long (see actors/periodic.py);
        # after JobRuns, so the skipped tick's row is ended.
        PeriodiqMiddleware(skip_delay=60),
    ]


@dataclass(frozen=True)
class Before:
    """``first`` must come before ``then`` in the middleware list, for the reason ``why``."""

    first: type[Middleware]
    then: type[Middleware]
    why: str


# Every pair of the worker's middleware whose order matters, and why. A pair not here may
# be swapped without changing what happens (see FREE); Dramatiq's own keep their default
# order among themselves, which tests/actors/test_broker.py checks as well.
ORDER = (
    Before(LogContext, QueuePause, "the line about a message put back names it"),
    Before(LogContext, JobRuns, "the job row's id joins the message's context rather than "
           "being dropped when the message's context begins"),
    Before(LogContext, Retries, "the line about a retry or a dead letter names the message: "
           "the context is cleared after every other after hook"),
    Before(QueuePause, DailyBudget, "resuming a paused queue brings its messages back at once, "
           "not at the next UTC day, and the pause costs no read of the budget"),
    Before(QueuePause, JobCounters, "a message put back because its queue is paused is not "
           "counted"),
    Before(QueuePause, WorkerRegistry, "a message put back is neither listed nor processed"),
    Before(QueuePause, DatabaseConnection, "a message put back opens no connection"),
    Before(QueuePause, JobRuns, "a message put back never claims its job row"),
    Before(DeletedMessages, JobCounters, "a deleted message is not counted"),
    Before(DeletedMessages, WorkerRegistry, "a deleted message is neither listed nor processed"),
    Before(DeletedMessages, DatabaseConnection, "a deleted message opens no connection"),
    Before(DeletedMessages, JobRuns, "a deleted message never claims its job row"),
    Before(DailyBudget, JobCounters, "a bulk message handed back until tomorrow is not counted"),
    Before(DailyBudget, WorkerRegistry, "a bulk message handed back is neither listed nor "
           "processed"),
    Before(DailyBudget, DatabaseConnection, "a bulk message handed back opens no connection"),
    Before(JobCounters, DatabaseConnection, "a message handed back while the database is away "
           "counts as skipped, and a job's time includes its connection"),
    Before(JobCounters, JobRuns, "a duplicate delivery JobRuns skips counts as skipped, and a "
           "job's time includes its claim"),
    Before(JobCounters, Retries, "its after hook reads message.failed, which Retries sets"),
    Before(WorkerRegistry, DatabaseConnection, "a thread waiting for the database shows the "
           "message it holds"),
    Before(DatabaseConnection, JobRuns, "the row is claimed on an open connection, and its "
           "outcome written before the connection closes"),
    Before(DatabaseConnection, TimeLimit, "the wait for the database is not part of the "
           "actor's time limit"),
    Before(JobRuns, TimeLimit, "TimeLimitExceeded never lands in the claim or the outcome: the "
           "clock starts after the one and stops before the other"),
    Before(JobRuns, AgeLimit, "a message too old is skipped on a claimed row, which "
           "after_skip_message ends (failed) instead of leaving it queued"),
    Before(JobRuns, PeriodiqMiddleware, "a tick too old is skipped on a claimed row, which "
           "after_skip_message ends (cancelled), so the dashboard shows it"),
    Before(JobRuns, Retries, "its after hook reads message.failed, the traceback and "
           "RETRY_UNSENT, which Retries sets"),
    Before(DeadLetterErrors, Retries, "its after hook reads message.failed, which Retries sets"),
)  # fmt: skip
# The middleware whose place changes nothing: no hook around messages, and none that the
# others' hooks depend on.
FREE = (ResendAfterOutage, QueueMaintenance, GracefulStop)


# A person waits for what these queues hold (their sync; the artists an open comparison
# shows first): an idle consumer of theirs looks again within this many milliseconds.
# Dramatiq's consumer backs off to the worker's ``worker_timeout`` (a second, which its
# command line does not set) on an empty queue, so a sync asked for waited 0.2 to 1.0 s
# for a worker (bench/distance_sync.py). At 100 ms an idle process asks Redis 10 to 20
# times a second per such queue: one cheap script call each.
QUICK_QUEUES = frozenset({SHARED_QUEUE, INTERACTIVE_QUEUE})
QUICK_POLL_MS = 100


class AppBroker(RedisBroker):
    """Dramatiq's Redis broker, whose consumers of ``QUICK_QUEUES`` poll an empty queue at
    most ``QUICK_POLL_MS`` apart."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if queue_name in QUICK_QUEUES:
            timeout = min(timeout, QUICK_POLL_MS)
        return super().consume(queue_name, prefetch, timeout)


def build_broker(
    settings: Settings,
    client: redis.Redis | None = None,
    middleware: list[Middleware] | None = None,
) -> RedisBroker:
    """A Redis broker for ``settings.redis_url`` with the app's middleware (or
    ``middleware``: the benchmarks measure parts of the list), with every queue declared."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (make run and the tests start one)")
    broker = AppBroker(
        url=None if client is not None else settings.redis_url,
        client=client,
        namespace=settings.redis_namespace,
        middleware=app_middleware(settings) if middleware is None else middleware,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def configure(settings: Settings, client: redis.Redis | None = None) -> RedisBroker:
    """Build the broker (on ``client`` if given), make it the global one and move every
    declared actor onto it."""
    old = dramatiq.get_broker() if _has_global_broker() else None
    broker = build_broker(settings, client)
    dramatiq.set_broker(broker)
    if old is not None and old is not broker:
        for name in old.get_declared_actors():
            actor = old.get_actor(name)
            actor.broker = broker
            broker.declare_actor(actor)
    return broker


def _has_global_broker() -> bool:
    import dramatiq.broker as broker_module

    return broker_module.global_broker is not None
