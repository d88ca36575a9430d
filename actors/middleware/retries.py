"""Dramatiq's ``Retries``, noting on the message when Redis refused its retry.

``Retries`` puts a message to be tried again back in Redis. When Redis is away, that send
raises, Dramatiq logs it, and the original message is still acknowledged once Redis is
back: the retry would be lost. This subclass marks the message instead (``RETRY_UNSENT``),
so that ``JobRuns``, whose hook runs next, records the job row as unsent: it then waits in
the database like a request made while Redis was down, and is sent when Redis is back.
"""

from __future__ import annotations

import logging

import redis
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Retries as DramatiqRetries

log = logging.getLogger(__name__)

# The message option set when the retry did not reach Redis.
RETRY_UNSENT = "overlap_retry_unsent"


class Retries(DramatiqRetries):
    """Retries with backoff (Dramatiq's), and a retry Redis refused marked on the message."""

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            super().after_process_message(broker, message, result=result, exception=exception)
        except redis.RedisError as error:
            message.options[RETRY_UNSENT] = True
            log.warning("the retry of %s did not reach Redis (kept unsent): %s", message, error)
