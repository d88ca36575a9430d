"""Honouring deletions from the dashboard and the CLI (``ops.queue_messages``) of delayed
messages a worker already holds.

A worker fetches its delay queue's messages as soon as they arrive and keeps them in memory
until they are due; then it puts a copy on the waiting list itself. Taking such a message
out of Redis cannot reach that copy, so the deletion also writes the message's id to a
short list of deleted ids, and this middleware skips a message on that list when it reaches
a worker thread. A watcher thread reads the list every second (it holds only the delayed
messages deleted in the last days, a handful), so no message pays a Redis call.

First of the message middleware with the pause: a deleted message is neither counted, nor
listed, nor connected, nor claimed; a tracked one's row was cancelled by the deletion.
"""

from __future__ import annotations

import logging

import redis
from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_ref
from ops.queue_messages import deleted_ids

log = logging.getLogger(__name__)

# How often workers read the deleted ids: a delayed message deleted less than this long
# before it comes due may still run.
POLL_INTERVAL = 1.0


class DeletedMessages(BackgroundMiddleware):
    """Skips the messages an operator deleted while a worker held them."""

    thread_name = "deleted-messages"

    def __init__(self, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(poll_interval)
        self.deleted: frozenset[str] = frozenset()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self.tick(broker)
        super().after_worker_boot(broker, worker)

    def tick(self, broker: Broker) -> None:
        """Read the deleted ids; Redis being away only delays that."""
        try:
            self.deleted = deleted_ids(redis_ref(broker))
        except redis.RedisError as error:
            log.warning("could not read the deleted messages: %s", error)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.message_id in self.deleted:
            raise SkipMessage(f"message {message.message_id} was deleted by an operator")
