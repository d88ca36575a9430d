"""Every log line written while a worker runs a message names it: its id, its actor, the
request that sent it (the ``request_id`` option, set by jobs/queueing.py) and, once
``JobRuns`` has claimed it, its job row and the person it is for (config/logs.py).

First in the list: its ``before_process_message`` runs before any other hook, so even the
lines of a message the pause puts back name it; its after hooks run last, so the others'
lines are named too, and then the context is cleared for the thread's next message.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

from config import logs
from jobs.queueing import REQUEST_ID_OPTION


class LogContext(Middleware):
    """Binds the message's ids to the log lines of the thread that runs it."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        logs.begin(
            message_id=message.message_id,
            actor=message.actor_name,
            request_id=message.options.get(REQUEST_ID_OPTION),
        )

    # The outcome (result, exception) changes nothing here.
    def after_process_message(self, broker: Broker, message: MessageProxy, **outcome: Any) -> None:
        logs.begin()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        logs.begin()
