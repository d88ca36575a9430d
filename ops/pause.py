"""Pausing a queue: workers stop taking its messages until it is resumed; none is lost.

The switch is a Redis set of paused queue names. Workers read it every second (see
``actors.middleware.queue_pause``): they stop fetching the queue and hand back, with a
short delay, any message of it they had already fetched. The messages wait in Redis in
their order meanwhile, so resuming simply lets the workers fetch them again.
"""

from __future__ import annotations

from config.redis_ref import RedisRef, text


def paused_key(ref: RedisRef) -> str:
    """The Redis set holding the names of the paused queues."""
    return ref.key("ops", "paused")


def pause_queue(ref: RedisRef, queue: str) -> bool:
    """Pause ``queue`` for every worker; True when it was running until now."""
    return bool(ref.client.sadd(paused_key(ref), queue))


def resume_queue(ref: RedisRef, queue: str) -> bool:
    """Let the workers take ``queue``'s messages again; True when it was paused."""
    return bool(ref.client.srem(paused_key(ref), queue))


def paused_queues(ref: RedisRef) -> frozenset[str]:
    """The names of the queues paused now."""
    return frozenset(text(name) for name in ref.client.smembers(paused_key(ref)))
