"""Keeping the error of a message that failed for good, for the dead letters' list.

The Redis broker dead-letters the message as it was last enqueued: the traceback Dramatiq's
``Retries`` puts on a message belongs to the try before, and a message that is not retried
(``max_retries=0``, the periodic ticks) carries none. So when a message fails its last try,
this middleware writes that try's error beside the dead letter, under its broker id, for as
long as the broker keeps dead letters (see ``ops.dead_letters``).

It comes before ``Retries`` in the middleware list, so its ``after_process_message`` runs
after Retries has decided whether the message failed for good.
"""

from __future__ import annotations

import logging
import traceback

import redis
from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

from actors.redis_broker import redis_ref
from ops.dead_letters import save_error

log = logging.getLogger(__name__)


class DeadLetterErrors(Middleware):
    """Writes the last error of each message that failed for good beside its dead letter."""

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not message.failed:
            return
        broker_id = message.options.get("redis_message_id")
        if not broker_id:
            return
        trace = "".join(traceback.format_exception(exception, limit=30))
        try:
            save_error(redis_ref(broker), broker_id, trace)
        except redis.RedisError as error:
            # The dead letter is listed all the same, without its error.
            log.warning("the error of dead letter %s was not kept: %s", broker_id, error)
