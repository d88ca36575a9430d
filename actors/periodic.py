"""Periodic actors: periodiq sends them on a schedule from the one scheduler process.

They only find what is due and fan out; the work itself runs in other actors.
periodiq reads the local clock, so the scheduler runs with TZ=UTC (see the Procfile).
"""

from __future__ import annotations

import time

import dramatiq
from periodiq import cron

from actors.broker import PERIODIC_QUEUE

# The Redis key where the last tick's time is kept, for /healthz and the dashboard.
LAST_TICK_KEY = "overlap:scheduler:last_tick"


@dramatiq.actor(queue_name=PERIODIC_QUEUE, periodic=cron("* * * * *"), max_retries=0)
def scheduler_tick() -> None:
    """Record that the scheduler sent a tick and a worker ran it (a liveness signal)."""
    dramatiq.get_broker().client.set(LAST_TICK_KEY, str(time.time()))
