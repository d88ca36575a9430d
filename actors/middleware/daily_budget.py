"""The day's Spotify budget: bulk work stops at its bulk share, so people's syncs keep the rest.

With ``SPOTIFY_DAILY_BUDGET`` set, a message of the bulk queue (the monthly refresh's
``update_artist``) that reaches a worker once the day's Web API requests passed the bulk
share (``spotify.gate.BULK_SHARE``) is handed back until the next UTC day, before any
other middleware sees it: no database connection, no retry spent. The day's count is read
at most once a second per process, so the check costs a Redis call per second, not per
message. Without a budget this middleware is not installed at all.

People's own syncs are not stopped here: the gate lets their requests through to the
whole budget and then defers them to the next day (``BudgetSpent``).
"""

from __future__ import annotations

import logging
import math
import threading
import time

import redis
from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from actors.middleware.hand_back import hand_back
from actors.redis_broker import redis_ref
from config.settings import Settings
from jobs.queueing import BULK_QUEUE
from spotify.gate import SpotifyGate, next_utc_day

log = logging.getLogger(__name__)

# How long one reading of the day's count is trusted.
READ_INTERVAL = 1.0


class DailyBudget(Middleware):
    """Hands the bulk queue's messages back until tomorrow once its share is spent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._gate: SpotifyGate | None = None
        self._read_at = -math.inf
        self._allowed = True

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.queue_name != BULK_QUEUE or self._bulk_allowed(broker):
            return
        now = time.time()
        delay_ms = math.ceil((next_utc_day(now) - now) * 1000)
        hand_back(broker, message, delay_ms, "the day's bulk share of the Spotify budget is spent")

    def _bulk_allowed(self, broker: Broker) -> bool:
        """The day's count against the bulk share, read again after ``READ_INTERVAL``."""
        with self._lock:
            if time.monotonic() - self._read_at < READ_INTERVAL:
                return self._allowed
            if self._gate is None:
                self._gate = SpotifyGate(redis_ref(broker), self.settings)
            try:
                self._allowed = self._gate.bulk_allowed()
            except redis.RedisError as error:
                # The message cannot run without Redis either; let it take its usual path.
                log.warning("could not read the day's Spotify requests: %s", error)
                return True
            self._read_at = time.monotonic()
            return self._allowed
