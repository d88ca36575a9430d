"""The Redis broker behind a hook's ``Broker``: what our middleware and actors run on.

Dramatiq types a middleware's hooks and ``dramatiq.get_broker()`` with its base
``Broker``; every process here builds a ``RedisBroker`` (``actors.broker``), and the
middleware keep their state in its Redis. These narrow the type, and say so plainly if
some other broker ever reaches them.
"""

from __future__ import annotations

from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker

from config.redis_ref import RedisRef


def redis_broker(broker: Broker) -> RedisBroker:
    """``broker``, which is the app's Redis broker."""
    if not isinstance(broker, RedisBroker):
        raise TypeError(f"overlap's worker runs on a RedisBroker, not {type(broker).__name__}")
    return broker


def redis_ref(broker: Broker) -> RedisRef:
    """The Redis reference (client and namespace) of ``broker``."""
    return RedisRef.of(redis_broker(broker))
