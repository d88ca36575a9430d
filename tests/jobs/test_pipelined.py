"""Enqueueing in one pipeline stores each message exactly as ``RedisBroker.enqueue`` does.

``enqueue_pipelined`` runs the broker's private dispatch script with arguments of its own
making: these tests fail when a dramatiq release changes that script's shape.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from jobs.pipelined import enqueue_pipelined
from jobs.queueing import build_message

QUEUE = "pipelined-test"

# The dispatch script's common arguments, in the ARGV order enqueue_pipelined sends them.
DISPATCH_ARGV = (
    "command",
    "timestamp",
    "queue_name",
    "worker_id",
    "heartbeat_timeout",
    "dead_message_ttl",
    "do_maintenance",
    "max_unpack_size",
)


class EnqueueHooks(Middleware):
    """Notes every enqueue hook the broker emits."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int | None]] = []

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: Any):
        self.seen.append(("before", message.message_id, delay))

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: Any):
        self.seen.append(("after", message.message_id, delay))


@pytest.fixture
def new_broker(redis_client: redis.Redis, namespace: str) -> Iterator[Callable[[str], RedisBroker]]:
    """Brokers on the test Redis, each under a namespace of its own, with no maintenance."""

    def new_broker(name: str) -> RedisBroker:
        return RedisBroker(
            client=redis_client,
            namespace=f"{namespace}-{name}",
            maintenance_chance=0,
            middleware=[EnqueueHooks()],
        )

    yield new_broker
    for key in redis_client.scan_iter(f"{namespace}-*"):
        redis_client.delete(key)


def dispatch_source() -> str:
    """The dispatch script as the installed dramatiq ships it."""
    return (resources.files("dramatiq.brokers") / "redis" / "dispatch.lua").read_text()


def stored(client: redis.Redis, broker: RedisBroker) -> dict[str, Any]:
    """What a broker's namespace holds, with the ids Redis and the broker made up left out."""
    prefix = f"{broker.namespace}:"
    keys = {
        key.decode().removeprefix(prefix): client.type(key).decode()
        for key in client.scan_iter(f"{prefix}*")
    }
    queued = client.lrange(f"{prefix}{QUEUE}", 0, -1)
    data = client.hgetall(f"{prefix}{QUEUE}.msgs")
    messages = []
    for redis_id in queued:
        message = dramatiq.Message.decode(data[redis_id])
        # Each stored message names the id it is stored under.
        assert message.options["redis_message_id"] == redis_id.decode()
        options = {k: v for k, v in message.options.items() if k != "redis_message_id"}
        messages.append(message._replace(options=options).asdict())
    heartbeats = client.zrange(f"{prefix}__heartbeats__", 0, -1)
    return {
        "keys": keys,
        "messages": messages,
        "unqueued data": len(data) - len(queued),
        "heartbeats are the broker's": heartbeats == [broker.broker_id.encode()],
    }


def test_the_broker_runs_the_dispatch_script_dramatiq_ships(
    new_broker: Callable[[str], RedisBroker],
) -> None:
    shipped = hashlib.sha1(dispatch_source().encode()).hexdigest()
    assert new_broker("any").scripts["dispatch"].sha == shipped


def test_the_dispatch_script_takes_its_arguments_in_the_order_we_send_them() -> None:
    source = dispatch_source()
    named = re.findall(r"^local (\w+) = ARGV\[(\d+)\]\s*$", source, re.MULTILINE)
    assert named == [(name, str(n)) for n, name in enumerate(DISPATCH_ARGV, start=1)]
    # The command's own arguments come after those eight...
    assert re.search(r"for i\s*=\s*9\s*,\s*#ARGV do\s+ARGS\[i - 8\] = ARGV\[i\]", source)
    # ...and "enqueue" takes the message's id in Redis, then its data, and stores nothing else.
    enqueue = source.split('if command == "enqueue" then', 1)[1].split("\nelseif", 1)[0]
    assert re.findall(r"local (\w+) = ARGS\[(\d+)\]", enqueue) == [
        ("message_id", "1"),
        ("message_data", "2"),
    ]
    assert re.findall(r'redis\.call\("(\w+)", ([^)]*)\)', enqueue) == [
        ("hset", "queue_messages, message_id, message_data"),
        ("rpush", "queue_full_name, message_id"),
    ]


def test_a_pipelined_batch_is_stored_as_enqueueing_one_by_one_stores_it(
    redis_client: redis.Redis, new_broker: Callable[[str], RedisBroker]
) -> None:
    # Given the same five messages...
    messages = [build_message("pipelined_test_actor", QUEUE, [n, f"artist-{n}"]) for n in range(5)]
    one_by_one, pipelined = new_broker("one-by-one"), new_broker("pipelined")

    # When one broker enqueues them one by one and the other in one pipeline...
    for message in messages:
        one_by_one.enqueue(message)
    enqueue_pipelined(pipelined, messages)

    # Then both namespaces hold the same keys, and the same messages in the same order.
    expected = stored(redis_client, one_by_one)
    assert expected["keys"] == {QUEUE: "list", f"{QUEUE}.msgs": "hash", "__heartbeats__": "zset"}
    assert [m["message_id"] for m in expected["messages"]] == [m.message_id for m in messages]
    assert expected["unqueued data"] == 0 and expected["heartbeats are the broker's"]
    assert stored(redis_client, pipelined) == expected
    # And the middleware saw the same hooks for each message.
    hooks = [broker.middleware[0].seen for broker in (one_by_one, pipelined)]
    assert sorted(hooks[0]) == sorted(hooks[1])
    assert len(hooks[1]) == 2 * len(messages)


def test_a_consumer_gets_pipelined_messages_back_in_order(
    new_broker: Callable[[str], RedisBroker],
) -> None:
    broker = new_broker("consumed")
    messages = [build_message("pipelined_test_actor", QUEUE, [n]) for n in range(3)]
    enqueue_pipelined(broker, messages)

    consumer = broker.consume(QUEUE, prefetch=3, timeout=1000)
    received = [next(consumer) for _ in messages]
    for message in received:
        consumer.ack(message)
    consumer.close()

    assert [(m.message_id, m.args) for m in received] == [(m.message_id, m.args) for m in messages]
    assert broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs") == 0  # acked and gone


def test_a_batch_sent_after_redis_lost_its_scripts_is_stored_once(
    new_broker: Callable[[str], RedisBroker],
) -> None:
    # Given a Redis that no longer has the dispatch script (as after a restart):
    broker = new_broker("flushed")
    broker.client.script_flush()
    messages = [build_message("pipelined_test_actor", QUEUE, [n]) for n in range(5)]

    # When a batch is sent, its EVALSHA fails, the script is loaded and the batch sent again:
    enqueue_pipelined(broker, messages)

    # Then each message is stored once.
    queued = broker.client.lrange(f"{broker.namespace}:{QUEUE}", 0, -1)
    assert len(queued) == len(set(queued)) == 5
    assert broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs") == 5
