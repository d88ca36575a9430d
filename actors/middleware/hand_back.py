"""Handing a message back for later, when it cannot run yet, without spending a retry."""

from __future__ import annotations

from typing import NoReturn

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage


def hand_back(broker: Broker, message: MessageProxy, delay_ms: int, reason: str) -> NoReturn:
    """Send ``message`` again ``delay_ms`` from now, then skip this delivery of it.

    The copy is the same message (id, retries, options), so it counts as no retry, and it
    is in Redis before the skip acknowledges the original: nothing is lost in between. A
    ``before_process_message`` hook calls this; the middleware after it never see the
    message.
    """
    broker.enqueue(message._message.copy(), delay=delay_ms)
    raise SkipMessage(reason)
