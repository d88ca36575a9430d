"""The worker's middleware run in the one declared order: every pair whose order matters
holds in the list, and the three orders that matter most hold in what a message meets."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from dramatiq import Middleware
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage, default_middleware

from actors.broker import FREE, ORDER, QUICK_POLL_MS, app_middleware
from actors.middleware.job_counters import JobCounters
from actors.middleware.queue_pause import QueuePause
from actors.middleware.worker_registry import WorkerRegistry
from actors.testing import enqueued
from config.redis_ref import RedisRef
from jobs import queueing
from models import JobRun, database
from models.job_run import FAILED
from ops.counters import JobCounts, job_totals
from ops.dead_letters import error_key
from ops.pause import pause_queue
from spotify.gate import SpotifyGate

# Every message hook: a middleware whose place "changes nothing" overrides none of them.
MESSAGE_HOOKS = ("before_process_message", "after_process_message", "after_skip_message")


def kinds(middleware: list[Middleware]) -> list[type[Middleware]]:
    return [type(m) for m in middleware]


@pytest.fixture(params=[0, 1000], ids=["no budget", "a daily budget"])
def listed(request: pytest.FixtureRequest, settings) -> list[type[Middleware]]:
    """The worker's middleware classes, in order, without and with a daily budget."""
    return kinds(app_middleware(settings.but(spotify_daily_budget=request.param)))


def test_every_pair_whose_order_matters_is_in_that_order(listed):
    broken = [
        f"{rule.first.__name__} must come before {rule.then.__name__}: {rule.why}"
        for rule in ORDER
        if rule.first in listed
        and rule.then in listed
        and listed.index(rule.first) > listed.index(rule.then)
    ]
    assert broken == []


def test_each_middleware_is_in_the_list_once(listed):
    assert len(listed) == len(set(listed))


def test_with_a_budget_every_rule_names_middleware_of_the_list(settings):
    # A rule about a middleware no longer in the list would hold for nothing.
    listed = kinds(app_middleware(settings.but(spotify_daily_budget=1000)))
    assert {c for rule in ORDER for c in (rule.first, rule.then)} <= set(listed)


def test_every_middleware_is_ordered_by_a_rule_or_said_to_be_free(settings):
    listed = set(kinds(app_middleware(settings.but(spotify_daily_budget=1000))))
    ruled = {c for rule in ORDER for c in (rule.first, rule.then)}
    dramatiqs = {c for c in listed if issubclass(c, tuple(default_middleware))}
    assert listed - ruled - dramatiqs - set(FREE) == set()


def test_a_middleware_said_to_be_free_has_no_hook_around_messages():
    for kind in FREE:
        overridden = [h for h in MESSAGE_HOOKS if getattr(kind, h) is not getattr(Middleware, h)]
        assert overridden == [], f"{kind.__name__} is not free of the order: {overridden}"


def test_dramatiq_s_own_middleware_keep_dramatiq_s_default_order(listed):
    # Among themselves they depend on it (Pipelines reads what Retries decided).
    ours = [
        next(d for d in default_middleware if issubclass(kind, d))
        for kind in listed
        if issubclass(kind, tuple(default_middleware))
    ]
    assert ours == default_middleware


# What a message meets: the hooks of the broker's real middleware list, called as a worker
# thread calls them (dramatiq.worker.WorkerThread.process_message), the actor itself
# replaced by raising ``error`` (or nothing).
def process(broker, message: MessageProxy, error: Exception | None = None) -> str:
    try:
        broker.emit_before("process_message", message)
        if error is not None:
            raise error
        broker.emit_after("process_message", message, result=None)
        return "processed"
    except SkipMessage:
        broker.emit_after("skip_message", message)
        return "skipped"
    except Exception as exception:
        message.stuff_exception(exception)
        broker.emit_after("process_message", message, exception=exception)
        return "failed"


def of_kind(broker, kind: type[Middleware]) -> Middleware:
    return next(m for m in broker.middleware if type(m) is kind)


@pytest.fixture
def connects(monkeypatch) -> list[bool]:
    """Every database connection opened from now on (the test's own is closed first)."""
    database.close()
    opened: list[bool] = []
    real = database.obj.connect

    def connect(*args, **kwargs):
        opened.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(database.obj, "connect", connect)
    return opened


def counted(broker) -> dict[str, JobCounts]:
    """What the broker's JobCounters counted, once flushed to Redis."""
    counters = of_kind(broker, JobCounters)
    assert isinstance(counters, JobCounters)
    counters.flush(broker)
    return job_totals(RedisRef.of(broker))


def processed(broker) -> int:
    registry = of_kind(broker, WorkerRegistry)
    assert isinstance(registry, WorkerRegistry)
    return registry.info().processed


def test_a_paused_queue_s_message_goes_back_before_it_is_counted_listed_connected_or_claimed(
    broker, db, connects
):
    ref = RedisRef.of(broker)
    pause_queue(ref, queueing.PERIODIC_QUEUE)
    pause = of_kind(broker, QueuePause)
    assert isinstance(pause, QueuePause)
    pause.refresh(broker)
    # A tracked actor: a row would be opened and claimed for it, had JobRuns seen it.
    message = queueing.build_message(queueing.CLEAN_JOB_RUNS, queueing.PERIODIC_QUEUE, [])

    assert process(broker, MessageProxy(message)) == "skipped"

    [back] = enqueued(broker, queueing.PERIODIC_QUEUE, delayed=True)
    assert back.message_id == message.message_id
    assert connects == []
    assert JobRun.select().count() == 0
    assert counted(broker) == {}
    assert processed(broker) == 0


@pytest.fixture
def budget_broker(app_settings, namespace, db) -> Iterator[object]:
    """The app's broker under a daily budget whose bulk share is spent."""
    from actors import runtime
    from actors.broker import configure

    settings = app_settings.but(redis_namespace=namespace, spotify_daily_budget=100)
    broker = configure(settings)
    runtime.configure(settings)
    from actors import artists, periodic, users  # noqa: F401  (declares the actors)

    gate = SpotifyGate(RedisRef.of(broker), settings)
    gate._redis.set(gate.day_key("api", time.time()), 80)
    yield broker
    broker.flush_all()
    for key in broker.client.scan_iter(f"{namespace}*"):
        broker.client.delete(key)
    broker.close()


def test_a_bulk_message_past_the_budget_goes_back_before_it_is_counted_listed_or_connected(
    budget_broker, connects
):
    broker = budget_broker
    message = queueing.build_message(queueing.UPDATE_ARTIST, queueing.BULK_QUEUE, ["someone"])

    assert process(broker, MessageProxy(message)) == "skipped"

    [back] = enqueued(broker, queueing.BULK_QUEUE, delayed=True)
    assert back.message_id == message.message_id
    assert connects == []
    assert counted(broker) == {}
    assert processed(broker) == 0


def test_the_job_row_the_counters_and_the_dead_letter_read_what_retries_decided(broker, db):
    # clean_job_runs is tracked and never retried: its first failure is its last.
    message = queueing.build_message(queueing.CLEAN_JOB_RUNS, queueing.PERIODIC_QUEUE, [])
    message.options["redis_message_id"] = "dead-1"

    result = process(broker, MessageProxy(message), error=RuntimeError("the cleanup broke"))

    assert result == "failed"
    job = JobRun.get(JobRun.message_id == message.message_id)
    assert job.status == FAILED
    assert "the cleanup broke" in (job.traceback or "")
    counts = counted(broker)[queueing.CLEAN_JOB_RUNS]
    assert (counts.failed, counts.retried) == (1, 0)
    kept = broker.client.get(error_key(RedisRef.of(broker), "dead-1"))
    assert kept is not None and b"the cleanup broke" in kept


def test_an_idle_worker_looks_for_a_persons_work_ten_times_as_often_as_for_the_rest(broker):
    """A person waits for their sync and for the artists their comparison shows first; the
    rest (counts, the refresh, the ticks) can wait for dramatiq's idle second."""
    worker_timeout = 1000  # dramatiq's default, which its command line does not change
    timeouts = {}
    for queue in (*queueing.QUEUES, f"{queueing.INTERACTIVE_QUEUE}.DQ"):
        consumer = broker.consume(queue, prefetch=1, timeout=worker_timeout)
        timeouts[queue] = consumer.timeout
        consumer.close()
    assert timeouts == {
        queueing.SHARED_QUEUE: QUICK_POLL_MS,
        queueing.INTERACTIVE_QUEUE: QUICK_POLL_MS,
        queueing.ARTISTS_QUEUE: worker_timeout,
        queueing.BULK_QUEUE: worker_timeout,
        queueing.PERIODIC_QUEUE: worker_timeout,
        f"{queueing.INTERACTIVE_QUEUE}.DQ": worker_timeout,
    }
    assert worker_timeout == 10 * QUICK_POLL_MS
