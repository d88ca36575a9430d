"""Dead letters: read from the broker's own keys, requeued as fresh tries, deleted."""

from __future__ import annotations

import json
import threading
import time
import uuid

import dramatiq

from config.redis_ref import RedisRef
from ops import dead_letters as dead


def bury(ref: RedisRef, queue: str, actor: str, args: list, *, error: str = "ValueError: no",
         retries: int = 3, at_ms: int | None = None) -> str:  # fmt: skip
    """Put one message in ``queue``'s dead letters as the broker's ``nack`` does."""
    broker_id = str(uuid.uuid4())
    message = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=tuple(args), kwargs={},
        options={"redis_message_id": broker_id, "retries": retries,
                 "traceback": f"Traceback (most recent call last):\n  ...\n{error}\n",
                 "scheduled_at": "2020-01-01T00:00:00+00:00"},
    )  # fmt: skip
    ids_key, msgs_key = dead.dead_keys(ref, queue)
    ref.client.zadd(ids_key, {broker_id: at_ms or int(time.time() * 1000)})
    ref.client.hset(msgs_key, broker_id, message.encode())
    return broker_id


def test_a_dead_letter_reads_with_its_actor_arguments_error_time_and_attempts(broker):
    ref = RedisRef.of(broker)
    old = bury(ref, "artists", "update_artist", ["a1"], at_ms=1_700_000_000_000)
    new = bury(ref, "artists", "update_artist", ["a2"], error="KeyError: 'x'", retries=4)

    letters = dead.list_dead(ref, "artists")

    assert [d.id for d in letters] == [new, old]  # newest first
    assert (letters[0].actor, letters[0].arguments, letters[0].error, letters[0].attempts) == (
        "update_artist", '"a2"', "KeyError: 'x'", 4
    )  # fmt: skip
    assert letters[1].died_at.year == 2023
    assert dead.count_dead(ref, "artists") == 2
    assert [d.id for d in dead.list_dead(ref, "artists", skip=1)] == [old]


def test_requeueing_puts_the_message_at_the_end_of_its_queue_as_a_fresh_try(broker):
    ref = RedisRef.of(broker)
    broker_id = bury(ref, "artists", "update_artist", ["a1"])

    assert dead.requeue_dead(ref, "artists", [broker_id]) == 1

    assert dead.count_dead(ref, "artists") == 0
    assert not ref.client.hexists(dead.dead_keys(ref, "artists")[1], broker_id)
    [waiting] = ref.client.lrange(ref.key("artists"), 0, -1)
    message = json.loads(ref.client.hget(ref.key("artists.msgs"), waiting))
    assert message["args"] == ["a1"] and message["queue_name"] == "artists"
    assert message["options"]["redis_message_id"] == waiting.decode() != broker_id
    for gone in ("retries", "traceback", "scheduled_at"):
        assert gone not in message["options"]
    assert dead.requeue_dead(ref, "artists", [broker_id]) == 0  # already back


def test_two_operators_requeueing_the_same_message_put_it_back_once(broker):
    ref = RedisRef.of(broker)
    broker_id = bury(ref, "artists", "update_artist", ["a1"])
    moved: list[int] = []

    def requeue() -> None:
        moved.append(dead.requeue_dead(ref, "artists", [broker_id]))

    threads = [threading.Thread(target=requeue) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(moved) == [0] * 7 + [1]
    assert ref.client.llen(ref.key("artists")) == 1


def test_a_whole_queue_is_requeued_or_deleted_in_batches(broker, monkeypatch):
    monkeypatch.setattr(dead, "BATCH", 7)
    ref = RedisRef.of(broker)
    for i in range(20):
        bury(ref, "bulk", "update_artist", [f"b{i}"])
    for i in range(5):
        bury(ref, "artists", "update_artist", [f"c{i}"])

    assert dead.requeue_all_dead(ref, "bulk") == 20
    assert dead.count_dead(ref, "bulk") == 0 and ref.client.llen(ref.key("bulk")) == 20
    assert dead.delete_all_dead(ref, "artists") == 5
    assert dead.count_dead(ref, "artists") == 0 and ref.client.llen(ref.key("artists")) == 0
