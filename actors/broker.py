"""The one broker module: every process (web, workers, scheduler) builds its broker here,
so that all of them see the same middleware in the same order.
"""

from __future__ import annotations

import dramatiq
import redis
from dramatiq import Middleware
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
from actors.middleware.graceful_stop import GracefulStop
from actors.middleware.job_counters import JobCounters
from actors.middleware.job_runs import JobRuns
from actors.middleware.queue_pause import QueuePause
from actors.middleware.resend_after_outage import ResendAfterOutage
from actors.middleware.retries import Retries
from actors.middleware.worker_registry import WorkerRegistry
from config.settings import Settings
from jobs.queueing import QUEUES

# Dramatiq's Redis broker brings back the messages of a worker that stopped sending
# heartbeats, but only during "maintenance", which by default runs on 0.1% of broker
# calls, for workers silent for 60 s: a killed worker's message came back after about ten
# minutes. These values bring it back within half a minute: an idle consumer calls about
# once a second, so maintenance runs every few seconds on each queue. (At 10% it took
# 42 s once on PostgreSQL; maintenance itself is two small sorted-set reads.)
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 250_000  # out of a million broker calls


def app_middleware() -> list[Middleware]:
    """The app's middleware, in order (a fresh list of fresh instances).

    Dramatiq runs the ``before_*`` hooks in list order and the ``after_*`` hooks in
    reverse, so a paused queue's message is put back before anything else sees it, the
    database connection opens before the job row is claimed and closes after it is
    closed, and the job-run hooks and the counters see what Retries decided (they come
    before it in the list).
    """
    return [
        # A paused queue's message goes back to Redis before anything else runs: no
        # connection, no job-row claim, no retry counted.
        QueuePause(),
        # Counts and times every message that is not put back, by actor, in memory; a
        # thread adds the counts to Redis every second (no write per message).
        JobCounters(),
        # This process's entry in the worker list, with the message each thread runs.
        WorkerRegistry(),
        # One database connection per message, opened before and closed after it.
        DatabaseConnection(),
        # The job_runs row of tracked actors: claimed before, closed after.
        JobRuns(),
        # Waiting jobs whose message Redis or a worker lost are sent again once Redis is back.
        ResendAfterOutage(),
        # Running syncs checkpoint and hand back their message when the worker stops.
        GracefulStop(),
        # The error of a message's last try, kept beside its dead letter (before Retries,
        # so that it sees what Retries decided).
        DeadLetterErrors(),
        # Dramatiq's own, in its default order.
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        # Dramatiq's, noting a retry that Redis refused (the job row is then sent later).
        Retries(),
        # periodiq: skips periodic messages that waited too long (see actors/periodic.py).
        PeriodiqMiddleware(skip_delay=60),
    ]


def build_broker(
    settings: Settings,
    client: redis.Redis | None = None,
    middleware: list[Middleware] | None = None,
) -> RedisBroker:
    """A Redis broker for ``settings.redis_url`` with the app's middleware (or
    ``middleware``: the benchmarks measure parts of the list), with every queue declared."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (make run and the tests start one)")
    broker = RedisBroker(
        url=None if client is not None else settings.redis_url,
        client=client,
        namespace=settings.redis_namespace,
        middleware=app_middleware() if middleware is None else middleware,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    if settings.spotify_daily_budget:
        # Right after QueuePause: a bulk message past the day's bulk share goes back before
        # anything else runs (see actors/middleware/daily_budget.py). No budget, no cost.
        broker.add_middleware(DailyBudget(settings), after=QueuePause)
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
