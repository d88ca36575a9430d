"""Dramatiq's ``Retries``, with the tries of tracked jobs budgeted by their progress, and
noting on the message when Redis refused its retry.

A tracked job (it has a ``job_runs`` row, which counts its pages) that Spotify fails is
retried by the rule of ``actors/retry_policy.py``: only failures since its last page count,
and the backoff starts afresh after a page, so a sync that keeps moving forward never runs
out of tries. This middleware counts them on the row and decides; ``JobRuns``, whose hook
runs next, records when the next try comes (``NEXT_TRY_AT``), or when overlap tries the job
again by itself once it gave up. Every other message keeps Dramatiq's rule (``retry_when``).

``Retries`` puts a message to be tried again back in Redis. When Redis is away, that send
raises, Dramatiq logs it, and the original message is still acknowledged once Redis is
back: the retry would be lost. This subclass marks the message instead (``RETRY_UNSENT``),
so that ``JobRuns`` records the job row as unsent: it then waits in the database like a
request made while Redis was down, and is sent when Redis is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from typing import Any, cast

import redis
from dramatiq import Broker, Message
from dramatiq.broker import MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.middleware import Retries as DramatiqRetries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF

from actors import runtime
from actors.middleware.job_runs import NEXT_TRY_AT, RETRY_UNSENT, current_job
from actors.retry_policy import SPOTIFY_FAILURES, failures_after, gives_up, try_again_at
from models import JobRun
from models.db import utcnow
from models.job_run import Superseded

log = logging.getLogger(__name__)


class Retries(DramatiqRetries):
    """Retries with backoff (Dramatiq's, or by progress for tracked jobs Spotify fails),
    and a retry Redis refused marked on the message."""

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        # What an earlier try said: this try's decision alone goes to JobRuns.
        message.options.pop(NEXT_TRY_AT, None)
        job = current_job()
        if isinstance(exception, Superseded):
            return  # Another worker runs the job now: no retry of this attempt.
        try:
            if job is not None and isinstance(exception, SPOTIFY_FAILURES):
                self._by_progress(broker, message, job, exception)
            else:
                super().after_process_message(broker, message, result=result, exception=exception)
        except redis.RedisError as error:
            message.options[RETRY_UNSENT] = True
            log.warning("the retry of %s did not reach Redis (kept unsent): %s", message, error)

    def _by_progress(
        self, broker: Broker, message: MessageProxy, job: JobRun, exception: BaseException
    ) -> None:
        """Count the failure on the job's row, then retry with a backoff from the failures
        since its last page, or give up (and say when overlap tries again by itself)."""
        actor = broker.get_actor(message.actor_name)
        options = message.options
        options["retries"] = options.get("retries", 0) + 1
        options["traceback"] = "".join(traceback.format_exception(exception, limit=30))
        options["requeue_timestamp"] = int(time.time() * 1000)
        now = utcnow()
        failures = failures_after(job, now)
        job.save_failures(failures.count, failures.since, failures.pages)
        give_up_after = dt.timedelta(seconds=runtime.context().settings.sync_give_up_after_seconds)
        if gives_up(failures, now, give_up_after):
            log.warning(
                "%r gives up after %d failures without a page since %s",
                job, failures.count, failures.since,
            )  # fmt: skip
            message.fail()
            later = try_again_at(failures, now)
            if later is not None:
                options[NEXT_TRY_AT] = later.isoformat()
            return
        min_backoff = options.get("min_backoff", actor.options.get("min_backoff", self.min_backoff))
        max_backoff = options.get("max_backoff", actor.options.get("max_backoff", self.max_backoff))
        # The first failure after a page waits the least: the count starts afresh.
        _, delay = compute_backoff(
            failures.count - 1,
            factor=min_backoff,
            max_backoff=min(max_backoff, DEFAULT_MAX_BACKOFF),
        )
        # Set before the send, which may raise: JobRuns then records the row unsent, still
        # failing, and its next try's time for when Redis is back.
        options[NEXT_TRY_AT] = (now + dt.timedelta(milliseconds=delay)).isoformat()
        log.info("retrying %r in %d ms (%d failures without a page)", job, delay, failures.count)
        # The proxy passes every attribute on to its message, as Dramatiq's own Retries
        # relies on when it sends it again.
        broker.enqueue(cast("Message[Any]", message), delay=delay)
