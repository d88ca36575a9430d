"""The web process's Redis client: short timeouts, and a pause in trying after a failure.

Pages use Redis for things they can do without: the friend-code guess limit, the
comparison cache, the queue figures, and sending a sync (whose row waits in the database
when the send fails). A stopped Redis refuses connections at once and costs a page
nothing. A Redis that hangs (a frozen host, a network that drops packets) costs a timeout
per call, and a comparison page makes four or five. So after one call fails, the client's
connections fail at once for ``PAUSE_S`` instead of waiting again: a page pays one
timeout at most, and the next try after the pause finds out whether Redis is back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import redis

log = logging.getLogger(__name__)
# Seconds to wait for a connection, and for an answer; Redis answers in well under 1 ms.
CONNECT_TIMEOUT_S = 1.0
ANSWER_TIMEOUT_S = 2.0
# After a call fails, calls fail at once for this long.
PAUSE_S = 5.0


class Pause:
    """When a client's calls may go to Redis again (shared by its connections)."""

    def __init__(self, seconds: float = PAUSE_S) -> None:
        self.seconds = seconds
        self.until = 0.0
        self.lock = threading.Lock()

    def check(self) -> None:
        """Raise at once while the pause lasts."""
        if time.monotonic() < self.until:
            raise redis.ConnectionError("Redis did not answer a moment ago; not waiting again")

    def start(self, error: Exception) -> None:
        """Begin a pause (a call just failed), and say so once per pause."""
        with self.lock:
            began = time.monotonic() >= self.until
            self.until = time.monotonic() + self.seconds
        if began:
            log.warning(
                "Redis did not answer (%s: %s); web process %d skips it for %.0f s",
                type(error).__name__, error, os.getpid(), self.seconds,
            )  # fmt: skip


class PausingConnection(redis.Connection):
    """A connection that fails at once during its client's pause, and starts one when a
    call fails for want of Redis (refused, reset, or timed out)."""

    def __init__(self, *, pause: Pause, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pause = pause

    def connect(self) -> None:
        self.pause.check()
        self._watch(super().connect)

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self.pause.check()
        self._watch(super().send_packed_command, command, check_health)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        return self._watch(super().read_response, *args, **kwargs)

    def _watch(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            self.pause.start(error)
            raise


def web_redis(url: str) -> redis.Redis:
    """A client of ``url`` for one web process (pages, and the broker that sends syncs)."""
    timeouts = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": ANSWER_TIMEOUT_S}
    if urlsplit(url).scheme != "redis":
        return redis.Redis.from_url(url, **timeouts)  # TLS or a socket file: timeouts only
    return redis.Redis.from_url(url, connection_class=PausingConnection, pause=Pause(), **timeouts)
