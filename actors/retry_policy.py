"""Which failures are worth another try, for Dramatiq's Retries middleware (``retry_when``),
and the budget of the jobs that walk Spotify's pages.

Backoff between tries is Dramatiq's: exponential with jitter, from each actor's
``min_backoff`` to ``max_backoff``; a ``Retry`` with a delay (Spotify's ``Retry-After``)
sets its own.

A job of one request (``update_artist``) has a small bound of its own: a few tries, then
it fails for good. A tracked job (one with a ``job_runs`` row, which counts its pages) is
budgeted by progress instead: it counts only Spotify's failures since it last loaded a
page. A try that loaded a page since the previous failure starts the count and the
backoff afresh, so a sync that keeps moving forward never runs out of tries, however long
the library and however often Spotify fails; a Spotify that never answers still ends it,
after ``MAX_FAILURES_WITHOUT_PROGRESS`` failures in a row without a page, or once the
first of them is ``SYNC_GIVE_UP_AFTER_SECONDS`` old. overlap then tries the job again by
itself later (``jobs/try_again.py``), from where it stopped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis
from dramatiq import Retry
from dramatiq.middleware import TimeLimitExceeded

from models import JobRun
from spotify.errors import (
    BadResponse,
    NeedsReauth,
    NotFound,
    RequestRejected,
    ServerError,
    SpotifyTimeout,
)

# Spotify's own trouble (5xx, timeouts, junk): worth another try.
SPOTIFY_FAILURES = (ServerError, SpotifyTimeout, BadResponse)
# A job of one request (update_artist) meeting it: a few tries, then it fails for good.
MAX_TRANSIENT_RETRIES = 5
# A job walking pages: failures in a row without a page loaded before it gives up.
MAX_FAILURES_WITHOUT_PROGRESS = 5
# Deferrals for Spotify's pauses and hand-backs at shutdown: bounded, but generous.
MAX_DEFERRALS = 100
# Anything else is likely a bug or a database outage: try a little, then fail visibly.
MAX_OTHER_RETRIES = 3

# After a job gave up, overlap runs it again by itself this long after (the schedule's
# minutely tick takes it on the next whole minute), doubling with each failure more, up
# to the cap; a Spotify failing for longer than a day is left to the person or the daily
# schedules to ask again.
TRY_AGAIN_AFTER = dt.timedelta(minutes=2)
TRY_AGAIN_AFTER_AT_MOST = dt.timedelta(hours=1)
TRY_AGAIN_FOR = dt.timedelta(days=1)


def retry_when(retries: int, exception: BaseException) -> bool:
    """Whether a message that raised ``exception`` after ``retries`` tries goes again."""
    if isinstance(exception, NeedsReauth | NotFound | RequestRejected):
        return False  # No retry fixes these: the person must sign in, or the thing is gone.
    if isinstance(exception, Retry):
        return retries < MAX_DEFERRALS
    if isinstance(exception, redis.RedisError):
        # Redis was away for a moment (the rate gate, sending artists): not the job's fault.
        return retries < MAX_DEFERRALS
    if isinstance(exception, SPOTIFY_FAILURES):
        return retries < MAX_TRANSIENT_RETRIES
    if isinstance(exception, TimeLimitExceeded):
        return retries < 1
    return retries < MAX_OTHER_RETRIES


@dataclass(frozen=True)
class Failures:
    """A tracked job's failures in a row without a page loaded."""

    count: int
    since: dt.datetime
    pages: int


def failures_after(job: JobRun, now: dt.datetime) -> Failures:
    """The job's failures in a row once this try's failure is counted: one, when it loaded
    a page since the previous failure (or had none yet); one more, when it did not."""
    pages = job.pages_loaded or 0
    progressed = job.pages_at_failure is None or pages > job.pages_at_failure
    if progressed or not job.failures_since_progress or job.failing_since is None:
        return Failures(count=1, since=now, pages=pages)
    return Failures(count=job.failures_since_progress + 1, since=job.failing_since, pages=pages)


def gives_up(failures: Failures, now: dt.datetime, give_up_after: dt.timedelta) -> bool:
    """Whether the job stops trying: too many failures in a row without a page, or the
    first of them too long ago."""
    return failures.count >= MAX_FAILURES_WITHOUT_PROGRESS or now - failures.since >= give_up_after


def try_again_at(failures: Failures, now: dt.datetime) -> dt.datetime | None:
    """When overlap runs a job that gave up again by itself (None: it no longer does),
    on a whole minute, since the schedule looks once a minute."""
    if now - failures.since >= TRY_AGAIN_FOR:
        return None
    beyond = max(0, failures.count - MAX_FAILURES_WITHOUT_PROGRESS)
    wait = min(TRY_AGAIN_AFTER * (1 << min(beyond, 16)), TRY_AGAIN_AFTER_AT_MOST)
    when = now + wait
    minute = when.replace(second=0, microsecond=0)
    return minute if minute == when else minute + dt.timedelta(minutes=1)
