"""Pausing a queue: workers stop taking its messages until it is resumed; none is lost.

The switch is a Redis set of paused queue names. Workers read it every second (see
``actors.middleware.queue_pause``): they stop fetching the queue and hand back, with a
short delay, any message of it they had already fetched. The messages wait in Redis in
their order meanwhile, so resuming simply lets the workers fetch them again.
"""

from __future__ import annotations

import redis


def paused_key(namespace: str) -> str:
    """The Redis set holding the names of the paused queues."""
    return f"{namespace}:ops:paused"


def pause_queue(client: redis.Redis, namespace: str, queue: str) -> bool:
    """Pause ``queue`` for every worker; True when it was running until now."""
    return bool(client.sadd(paused_key(namespace), queue))


def resume_queue(client: redis.Redis, namespace: str, queue: str) -> bool:
    """Let the workers take ``queue``'s messages again; True when it was paused."""
    return bool(client.srem(paused_key(namespace), queue))


def paused_queues(client: redis.Redis, namespace: str) -> frozenset[str]:
    """The names of the queues paused now."""
    return frozenset(_text(name) for name in client.smembers(paused_key(namespace)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
