"""Sending messages by actor name, so that core functions never import the actors.

The queues are named here because both the senders and the workers need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

# What a person waits for (their own sync).
INTERACTIVE_QUEUE = "interactive"
# Listener counts for artists a person's sync met: someone is waiting for those too.
ARTISTS_QUEUE = "artists"
# The monthly refresh's fan-out, served by its own worker process.
BULK_QUEUE = "bulk"
# periodiq's ticks: small, and never behind anything.
PERIODIC_QUEUE = "periodic"

UPDATE_USER = "update_user"
UPDATE_ARTIST = "update_artist"


def build_message(actor_name: str, queue: str, args: Sequence[Any]) -> dramatiq.Message:
    """A message for ``actor_name`` with a fresh id (sent later with ``send``)."""
    return dramatiq.Message(
        queue_name=queue, actor_name=actor_name, args=tuple(args), kwargs={}, options={}
    )


def send(message: dramatiq.Message, delay_ms: int | None = None) -> dramatiq.Message:
    """Enqueue one message on the process's broker."""
    return dramatiq.get_broker().enqueue(message, delay=delay_ms)


def send_many(actor_name: str, queue: str, arg_lists: Iterable[Sequence[Any]]) -> int:
    """Enqueue one message per argument list in one Redis round trip; returns how many."""
    broker = dramatiq.get_broker()
    messages = [build_message(actor_name, queue, args) for args in arg_lists]
    if not messages:
        return 0
    if isinstance(broker, RedisBroker):
        from sync.pipelined import enqueue_pipelined

        enqueue_pipelined(broker, messages)
    else:
        for message in messages:
            broker.enqueue(message)
    return len(messages)
