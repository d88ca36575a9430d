"""Sending the waiting jobs again as soon as a worker sees Redis answer after an outage.

While Redis is away, job messages go missing in three ways: a sync asked for meanwhile is
a job row with no ``sent_at`` (the row is written first, then the message is sent); a
retry Redis refused is one too (see ``actors/middleware/retries.py``); and every worker
drops the messages it had fetched but not yet run, delayed retries included, because
Dramatiq starts its consumers afresh after a connection error (they come back only when
that worker process dies). A Redis that restarts without its data loses the rest.

The minutely ``recover`` job sends unsent rows, but only once the scheduler's tick has
gone through Redis and a worker has run it. So each worker process asks Redis every second
whether it is there, and when it answers again after failing, sends again at once every
waiting job (queued or retrying) not sent since it first saw Redis fail, with what is left
of its wait. A job whose first message survived gets two: the second finds the job
claimed or finished and is skipped. At boot, with Redis up, only the unsent rows old
enough not to be on their way are sent.

Of several workers seeing Redis come back, one at a time makes its pass (a short lock in
Redis); the others find the jobs sent again by the first and leave them.
"""

from __future__ import annotations

import datetime as dt
import logging

import redis
from dramatiq import Broker, Worker
from peewee import PeeweeException

from actors.middleware.background import BackgroundMiddleware
from actors.redis_broker import redis_broker, redis_ref
from jobs.recovery import UNSENT_GRACE, send_unsent, send_waiting
from models import database
from models.db import utcnow

log = logging.getLogger(__name__)

# How often a worker asks Redis whether it is there.
POLL_INTERVAL = 1.0
# How long the worker making a pass keeps the others from making theirs at the same time.
PASS_LOCK_MS = 10_000


class ResendAfterOutage(BackgroundMiddleware):
    """Sends the waiting jobs again when this worker sees Redis answer after failing."""

    thread_name = "resend-after-outage"

    def __init__(self, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(poll_interval)
        self._pending = True
        self._down_since: dt.datetime | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        # A pass to make at boot, and after each outage.
        self._pending, self._down_since = True, None
        super().after_worker_boot(broker, worker)

    def send_pass(self, broker: Broker, down_since: dt.datetime | None) -> int | None:
        """Send the jobs that may have lost their message in the outage that began at
        ``down_since`` (None: at boot); how many went, or None when another worker is
        making its pass."""
        ref = redis_ref(broker)
        lock = ref.key("resend-after-outage")
        if not ref.client.set(lock, "1", nx=True, px=PASS_LOCK_MS):
            return None
        try:
            with database.connection_context():
                if down_since is None:
                    sent = send_unsent(utcnow() - UNSENT_GRACE)
                else:
                    sent = send_waiting(down_since)
        finally:
            ref.client.delete(lock)
        if sent:
            log.warning("sent %d waiting job(s) again (Redis %s)", sent,
                        "is up at boot" if down_since is None else "answers again")  # fmt: skip
        return sent

    def tick(self, broker: Broker) -> None:
        """Ask Redis whether it is there; make the pass due once it answers."""
        try:
            redis_broker(broker).client.ping()
        except redis.RedisError:
            if self._down_since is None:
                self._down_since = utcnow()
                log.warning("Redis does not answer; waiting jobs are sent when it is back")
            self._pending = True
            return
        if not self._pending:
            return
        try:
            # None: another worker is making its pass; this one makes its own after
            # it, so that a pass always ends even if that worker dies in the middle.
            if self.send_pass(broker, self._down_since) is not None:
                self._pending, self._down_since = False, None
        except (redis.RedisError, PeeweeException) as error:
            log.warning("could not send the waiting jobs yet: %s", error)
