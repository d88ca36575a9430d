"""QueueMaintenance gives a dead worker process's messages back to their queue as soon as
its heartbeat is older than the broker's timeout, and leaves a live one's alone."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from dramatiq.brokers.redis import RedisBroker

from actors.broker import HEARTBEAT_TIMEOUT_MS
from actors.middleware.queue_maintenance import QueueMaintenance, maintain
from jobs import queueing

QUEUE = queueing.INTERACTIVE_QUEUE


def redis_now_ms(broker: RedisBroker) -> int:
    seconds, micros = broker.client.time()
    return seconds * 1000 + micros // 1000


@pytest.fixture
def other_worker(broker):
    """Another worker process on the same Redis that fetches one message of ``QUEUE``, and
    whose heartbeat the test then sets to ``age_ms`` old."""

    def holding_a_message(age_ms: int) -> RedisBroker:
        other = RedisBroker(client=broker.client, namespace=broker.namespace, maintenance_chance=0)
        message = queueing.build_message(queueing.UPDATE_USER, QUEUE, [1])
        broker.enqueue(message)
        [fetched] = other.do_fetch(QUEUE, 1)
        assert fetched is not None and broker.client.llen(f"{broker.namespace}:{QUEUE}") == 0
        heartbeats = f"{broker.namespace}:__heartbeats__"
        broker.client.zadd(heartbeats, {other.broker_id: redis_now_ms(broker) - age_ms})
        return other

    return holding_a_message


def waiting(broker: RedisBroker) -> int:
    return broker.client.llen(f"{broker.namespace}:{QUEUE}")


def test_a_dead_workers_message_is_back_after_one_maintenance(broker, other_worker):
    # Given a worker process silent for longer than the heartbeat timeout, holding a message.
    dead = other_worker(HEARTBEAT_TIMEOUT_MS + 500)

    # When this worker maintains the queue once, the message waits in its queue again.
    maintain(broker, (QUEUE, f"{QUEUE}.DQ"))

    assert waiting(broker) == 1
    assert not broker.client.exists(f"{broker.namespace}:__acks__.{dead.broker_id}.{QUEUE}")


def test_a_live_workers_message_stays_with_it(broker, other_worker):
    # Given a worker process that beat a little under the timeout ago.
    live = other_worker(HEARTBEAT_TIMEOUT_MS - 1_500)

    maintain(broker, (QUEUE,))

    assert waiting(broker) == 0
    acks = f"{broker.namespace}:__acks__.{live.broker_id}.{QUEUE}"
    assert broker.client.scard(acks) == 1


@pytest.fixture
def maintenance(broker):
    """QueueMaintenance on a worker of ``QUEUE`` and its delay queue, ticking every 50 ms;
    ``boot()`` starts it."""
    middleware = QueueMaintenance(interval=0.05)
    worker = SimpleNamespace(consumers={QUEUE: None, f"{QUEUE}.DQ": None})
    middleware.boot = lambda: middleware.after_worker_boot(broker, worker)  # type: ignore[attr-defined]
    yield middleware
    middleware.before_worker_shutdown(broker, worker)  # type: ignore[arg-type]


def test_a_worker_booting_takes_back_a_dead_workers_message_at_once(
    broker, other_worker, maintenance
):
    other_worker(HEARTBEAT_TIMEOUT_MS + 500)

    maintenance.interval = 60  # no tick of the thread: the boot's own maintenance does it
    maintenance.boot()

    assert waiting(broker) == 1
    # Its own heartbeat is stamped with Redis's time of that moment.
    mine = broker.client.zscore(f"{broker.namespace}:__heartbeats__", broker.broker_id)
    assert mine is not None and abs(redis_now_ms(broker) - mine) < 2_000


def test_a_worker_that_dies_later_is_caught_by_a_tick(broker, other_worker, maintenance):
    maintenance.boot()
    assert waiting(broker) == 0

    other_worker(HEARTBEAT_TIMEOUT_MS + 500)

    deadline = time.monotonic() + 10
    while not waiting(broker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiting(broker) == 1


def test_the_brokers_run_no_maintenance_by_chance(broker):
    # Maintenance is QueueMaintenance's, once a second: none on a fetch or an enqueue.
    assert broker.maintenance_chance == 0
    assert broker.heartbeat_timeout == HEARTBEAT_TIMEOUT_MS
