"""The one Redis reference: a client, the key namespace, and how Redis's bytes are read.

Every key of the app, ours and Dramatiq's broker's, lives under ``<namespace>:`` so that
several deployments or test runs can share one Redis. The key names are a contract between
processes of different versions during a deploy, so they are only ever built by
``RedisRef.key``. A process builds its reference once, from its settings
(``RedisRef.from_settings``) or from its broker (``RedisRef.of``), and passes it down in
place of a client and a namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, overload

import redis

from config.settings import Settings


class HoldsRedis(Protocol):
    """Anything with a Redis client and a namespace; Dramatiq's ``RedisBroker`` is one."""

    client: redis.Redis
    namespace: str


@dataclass(frozen=True)
class RedisRef:
    """A Redis client and the namespace the app's keys live under."""

    client: redis.Redis
    namespace: str

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis) -> RedisRef:
        """The reference for ``client`` under the configured ``REDIS_NAMESPACE``."""
        return cls(client, settings.redis_namespace)

    @classmethod
    def of(cls, holder: HoldsRedis) -> RedisRef:
        """The reference a broker uses (the broker's namespace is the settings' one)."""
        return cls(holder.client, holder.namespace)

    def key(self, *parts: str | int) -> str:
        """The name of one of the app's keys: ``<namespace>:<part>:<part>...``."""
        return ":".join((self.namespace, *map(str, parts)))


@overload
def text(value: bytes | str) -> str: ...


@overload
def text(value: None) -> None: ...


def text(value: bytes | str | None) -> str | None:
    """A key, field or value read from Redis, as text; None (a missing key) stays None.

    Our clients return bytes (Dramatiq's broker needs them, so none sets
    ``decode_responses``); a client that decodes already gives str, which passes through.
    """
    return value.decode() if isinstance(value, bytes) else value
