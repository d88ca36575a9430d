"""Tracked jobs that Spotify fails are budgeted by progress, through a real broker and worker:
only the failures since the last page count, the backoff starts afresh after a page, and a
job that loads nothing gives up after five failures in a row or the time limit, saying when
overlap tries it again by itself.

Each test drives a tracked actor of its own whose tries are scripted (load pages or not,
then fail with a 5xx, defer, or return), so that the rule is seen exactly; the sync itself,
against the demo Spotify failing at random, is in tests/faults/test_flaky_spotify.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from dramatiq import Retry

from actors import runtime
from actors.middleware.job_runs import current_job
from actors.retry_policy import (
    MAX_FAILURES_WITHOUT_PROGRESS,
    MAX_TRANSIENT_RETRIES,
    TRY_AGAIN_AFTER,
    retry_when,
)
from actors.testing import job_finished, wait_for
from jobs.queueing import INTERACTIVE_QUEUE
from models import JobRun
from models.db import utcnow
from spotify.errors import ServerError

_names = itertools.count()


class Script:
    """What each try of a scripted job does, and what each saw when it began."""

    def __init__(self, steps: list[tuple[int, str]]) -> None:
        # (pages the try loads, how it ends: "5xx", "defer" or "done")
        self.steps = steps
        self.seen: list[int] = []  # failures_since_progress at the start of each try
        self.started: list[float] = []

    def run(self) -> None:
        job = current_job()
        assert job is not None
        self.seen.append(job.failures_since_progress)
        self.started.append(time.monotonic())
        pages, end = self.steps[min(len(self.seen), len(self.steps)) - 1]
        if pages:
            job.save_checkpoint({}, pages_loaded=job.pages_loaded + pages)
        if end == "5xx":
            raise ServerError("Spotify failed with 503 for a page", status=503)
        if end == "defer":
            raise Retry("Spotify rate limit; retry after 0.05s", delay=50)


@pytest.fixture
def scripted(broker, worker) -> Iterator[Callable[..., tuple[Script, int]]]:
    """Run a tracked actor of the test's own on the worker; gives the script and the id of
    its job row."""

    def start(steps: list[tuple[int, str]], **options: object) -> tuple[Script, int]:
        script = Script(steps)
        actor = dramatiq.actor(
            script.run,
            broker=broker,
            actor_name=f"test_scripted_{next(_names)}",
            queue_name=INTERACTIVE_QUEUE,
            tracked=True,
            retry_when=retry_when,
            **{"min_backoff": 50, "max_backoff": 60_000, **options},
        )
        message = actor.send()
        job = wait_for(lambda: JobRun.by_message_id(message.message_id), what="the job's row")
        return script, job.id

    yield start


def test_a_job_that_loads_a_page_between_failures_never_runs_out_of_tries(scripted):
    # Given a job that loads one page and then meets a 5xx, eleven times, then ends.
    steps = [(1, "5xx")] * 11 + [(1, "done")]
    script, job_id = scripted(steps)

    done = wait_for(job_finished(job_id), timeout=60, what="the job to end")

    # Then it ends well after twice the old bound of tries, each failure the first since a
    # page: the count never grew, and neither did the wait (50 ms, then 10 s by the end).
    assert done.status == "succeeded", done.error
    assert done.attempts == 12 > MAX_TRANSIENT_RETRIES + 1
    assert script.seen == [0] + [1] * 11
    gaps = [b - a for a, b in itertools.pairwise(script.started)]
    assert max(gaps) < 2.0, gaps


def test_a_job_that_loads_nothing_gives_up_after_five_failures_and_says_when_it_tries_again(
    scripted, broker, caplog
):
    caplog.set_level(logging.INFO, logger="actors.middleware.retries")
    # Given a job that loads two pages, then nothing, every try ending in a 5xx. (The time
    # is taken before it is sent: its first try may fail before this thread runs again.)
    sent = utcnow()
    script, job_id = scripted([(2, "5xx")] + [(0, "5xx")] * 10)

    done = wait_for(job_finished(job_id), timeout=60, what="the job to give up")

    # Then the fifth failure in a row without a page ends it, and its backoff grew meanwhile.
    assert done.status == "failed"
    assert done.attempts == MAX_FAILURES_WITHOUT_PROGRESS
    assert script.seen == [0, 1, 2, 3, 4]
    assert (done.failures_since_progress, done.pages_at_failure) == (5, 2)
    assert done.error.startswith("ServerError")
    # The waits it was given doubled from 50 ms (each with Dramatiq's jitter, up to twice
    # as long), and no try came before its wait was over. (The gaps themselves are not
    # compared with each other: on a loaded machine a 50 ms wait took 13 s to be served.)
    delays = [int(m) for m in re.findall(r"retrying .* in (\d+) ms", caplog.text)]
    assert [(50 * 2**k <= d <= 100 * 2**k) for k, d in enumerate(delays)] == [True] * 4, delays
    gaps = [b - a for a, b in itertools.pairwise(script.started)]
    assert all(gap >= delay / 1000 for gap, delay in zip(gaps, delays, strict=True)), (
        gaps,
        delays,
    )
    # The row says when overlap tries again by itself: on the minute after the wait.
    assert done.resume_at.second == 0 and done.resume_at.microsecond == 0
    lead = done.resume_at - done.finished_at
    second = dt.timedelta(seconds=1)
    assert TRY_AGAIN_AFTER - second <= lead < TRY_AGAIN_AFTER + dt.timedelta(minutes=1)
    assert done.failing_since >= sent.replace(microsecond=0)
    # Nothing waits to run it again in Redis: only the schedule does (jobs/try_again.py).
    dead = f"{broker.namespace}:{INTERACTIVE_QUEUE}.XQ.msgs"
    assert broker.client.hlen(dead) == 1


def test_a_job_that_keeps_failing_past_the_time_limit_gives_up_before_five_failures(
    scripted, app_settings, broker
):
    # Given a time limit of one second and a first backoff of one to two seconds.
    runtime.configure(
        app_settings.but(redis_namespace=broker.namespace, sync_give_up_after_seconds=1)
    )
    script, job_id = scripted([(0, "5xx")] * 10, min_backoff=2_000)

    done = wait_for(job_finished(job_id), timeout=60, what="the job to give up")

    # Then the first failure past the limit ends it.
    assert done.status == "failed"
    assert done.attempts == 2 < MAX_FAILURES_WITHOUT_PROGRESS
    assert done.failures_since_progress == 2
    assert done.finished_at - done.failing_since >= dt.timedelta(seconds=1)


def test_a_deferral_or_a_page_between_failures_starts_the_count_afresh(scripted):
    # Given failures without a page, then one after a page, then a deferral (a 429), then
    # another failure, then the end.
    steps = [(0, "5xx"), (0, "5xx"), (1, "5xx"), (0, "defer"), (0, "5xx"), (0, "done")]
    script, job_id = scripted(steps)

    done = wait_for(job_finished(job_id), timeout=60, what="the job to end")

    # Then each try began with the failures in a row counted so far.
    assert done.status == "succeeded", done.error
    assert script.seen == [0, 1, 2, 1, 0, 1]


def test_a_retrying_job_s_page_on_the_dashboard_shows_its_pages_failures_and_next_try(
    scripted, web, signed_in_web
):
    # Given a job of 10 pages that loaded 3 and then failed, its next try a minute or two
    # away (its backoff: 60 to 120 s).
    signed_in_web("emma")
    script, job_id = scripted([(3, "5xx"), (0, "done")], min_backoff=120_000, max_backoff=120_000)
    JobRun.update(pages_total=10).where(JobRun.id == job_id).execute()
    row = wait_for(
        lambda: (j := JobRun.get_by_id(job_id)).status == "retrying" and j,
        what="the first failure",
    )
    assert row.failures_since_progress == 1 and row.resume_at > utcnow() + dt.timedelta(seconds=50)

    page = web.get(f"/admin/jobs/{job_id}")

    assert "Pages loaded</th><td>3 of 10<" in page.text
    assert "Failures since the last page</th><td>1 in a row, the first at" in page.text
    assert f"Tries next</th><td>{row.resume_at:%Y-%m-%d %H:%M:%S} UTC<" in page.text
    assert f"Spotify is failing; tries next at {row.resume_at:%H:%M:%S} UTC" in page.text
