"""A long sync against a Spotify that fails often, always or for minutes (issue 22): the tries
of a sync that keeps moving forward never run out, a Spotify that never answers still ends
it, with the person's page saying when overlap tries again by itself, and an outage in the
middle of a sync ends exact, by itself, once Spotify is back.

ana's library is 170 pages (100 followed-artist pages read one after the other along their
cursor, 70 of saved tracks and albums). The demo Spotify's ``fault_rate`` answers that share
of requests with a 500, 502 or 503 at random. The listener counts the sync asks for are
counted, not sent, in the fast tests: they are not what is tested, and 6,723 of them would
hold the worker's threads. ``bench/flaky_sync.py`` runs the random rates ten times each and
gives the wall time against a Spotify that never fails; the figures each test prints
(``-s``) are in docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time

import pytest

from actors import runtime
from actors.retry_policy import MAX_FAILURES_WITHOUT_PROGRESS, TRY_AGAIN_AFTER
from actors.testing import assert_library_is_spotifys, job_finished, wait_for
from jobs import queueing
from jobs.try_again import REQUESTED_BY, try_again_due
from models import JobRun
from models.db import utcnow
from models.job_run import FINISHED, user_subject
from sync.context import SyncContext
from sync.page_asks import ASKS_PER_PAGE
from sync.users import sync_if_needed
from tests.web.comparing import words

PAGES = 170
OFFSET_PAGES = {"saved_track": 60, "saved_album": 10}
# The slack of the times a row stores.
SECOND = dt.timedelta(seconds=1)
# Spotify fails here by answering 5xx, never by stalling: the production timeout, so that an
# answer a loaded machine is slow to give is not one more failure (at the faults' short
# timeout of 1 s, under a load of 80 on two cores, syncs gave up on such timeouts).
ANSWER_TIMEOUT_S = 10.0
# A sync whose row shows no change (pages, tries, status) for this long is stuck.
STUCK_AFTER_S = 60.0


def ended_while_moving(job_id: int, what: str) -> JobRun:
    """The job's row once it has ended; fail only when it stops moving for STUCK_AFTER_S
    (a loaded machine makes a long sync slower, but it keeps moving), saying where."""
    seen, moved_at = None, time.monotonic()
    while (job := JobRun.get_by_id(job_id)).status not in FINISHED:
        now = (job.status, job.pages_loaded, job.attempts)
        if now != seen:
            seen, moved_at = now, time.monotonic()
        assert time.monotonic() - moved_at < STUCK_AFTER_S, (
            f"{what}: nothing moved for {STUCK_AFTER_S:.0f} s; (status, pages, tries) = {now}"
        )
        time.sleep(0.2)
    return job


def counting_artists(ctx: SyncContext) -> SyncContext:
    """The worker's context with the artist updates counted, not sent."""
    counted = dataclasses.replace(ctx, send_artists=lambda ids: len(list(ids)))
    runtime.set_context(counted)
    return counted


def only_followed_left(job: JobRun) -> bool:
    """Whether the sync's checkpoint has every saved-track and -album page, and followed
    artists still to read."""
    cp = job.checkpoint or {}
    return (
        bool(cp.get("totals"))
        and not cp["followed"]["done"]
        and all(len(cp[source]["done_offsets"]) == n for source, n in OFFSET_PAGES.items())
    )


def figures(test: str, **values: object) -> None:
    """Print a test's figures for docs/reliability.md (seen with ``pytest -s``)."""
    print(f"\nFIGURES {test}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


@pytest.mark.parametrize("rate", [0.2, 0.4], ids=["20%", "40%"])
def test_a_long_sync_with_spotify_failing_at_random_ends_exact(
    rate, sign_in, worker, demo_spotify, use_settings
):
    # Given ana's first sync, and Spotify failing one answer in five (or two in five).
    ctx = counting_artists(use_settings(spotify_api_rate=100, spotify_timeout=ANSWER_TIMEOUT_S))
    user = sign_in("ana")
    demo_spotify.set_faults(fault_rate=rate)
    started = time.monotonic()

    job = sync_if_needed(ctx, user)
    done = ended_while_moving(job.id, "ana's sync")

    # Then it ends with every page, exactly Spotify's library, however many tries it took.
    assert done.status == "succeeded", done.error
    assert done.pages_loaded == done.pages_total == PAGES
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    stats = demo_spotify.stats()
    assert stats["server_errors"] > 0
    figures(
        f"random-{rate:.0%}",
        seconds=round(time.monotonic() - started, 1),
        tries=done.attempts,
        api_requests=stats["requests"]["api"],
        failed_answers=stats["server_errors"],
    )


def test_a_spotify_that_never_answers_ends_the_sync_and_only_the_schedule_calls_it_again(
    sign_in, sign_in_web, worker, broker, web, demo_spotify, use_settings
):
    # Given ana's sync past its saved tracks and albums, on its followed artists (read one
    # page after the other), when Spotify stops answering anything but 5xx.
    ctx = counting_artists(use_settings(spotify_api_rate=20, spotify_timeout=ANSWER_TIMEOUT_S))
    user = sign_in("ana")
    sign_in_web(web, user)
    job = sync_if_needed(ctx, user)
    row = lambda: JobRun.get_by_id(job.id)  # noqa: E731
    wait_for(lambda: only_followed_left(row()), timeout=60, what="the offset pages done")
    errors_before = demo_spotify.stats()["server_errors"]
    demo_spotify.set_faults(fault_rate=1.0)
    failing_from = demo_spotify.stats()["requests"]["api"]

    done = wait_for(job_finished(job.id), timeout=90, what="the sync to give up")

    # Then it gave up after five tries in a row without a page, each asking three times for
    # its page: exactly that many 5xx answers. (The count of all requests races the switch:
    # one under way when Spotify stopped may have brought a page, or been counted before the
    # switch and failed after it.)
    assert done.status == "failed" and done.error.startswith("ServerError")
    assert (done.attempts, done.failures_since_progress) == (5, MAX_FAILURES_WITHOUT_PROGRESS)
    assert OFFSET_PAGES["saved_track"] < done.pages_loaded < PAGES
    calls = demo_spotify.stats()["requests"]["api"]
    assert demo_spotify.stats()["server_errors"] - errors_before == 5 * ASKS_PER_PAGE
    # Its page says that Spotify is failing, how far it got, and when overlap tries again.
    home = web.get("/")
    again = done.resume_at
    assert again - done.finished_at >= TRY_AGAIN_AFTER - SECOND
    section = re.search(r'<section id="sync-status".*?</section>', home.text, re.S).group(0)
    assert (
        f"Spotify is failing, so loading your library stopped at {done.pages_loaded} of "
        f"{PAGES} pages. overlap will try again by itself at {again:%H:%M} UTC"
    ) in words(section)
    # Nothing calls Spotify after that: no retry waits, no thread is busy with it.
    time.sleep(5)
    assert demo_spotify.stats()["requests"]["api"] == calls
    assert JobRun.select().where(JobRun.subject == user_subject(user.id)).count() == 1

    # When the schedule's tick comes (jobs/try_again.py, called by the minutely recover)
    # and Spotify still fails, one try of the new run costs three asks, and it gives up again
    # with a longer wait.
    assert try_again_due(now=again) == 1
    rerun = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    assert rerun.requested_by == REQUESTED_BY and rerun.pages_loaded == done.pages_loaded
    second = wait_for(job_finished(rerun.id), timeout=60, what="the new run to give up")
    assert (second.status, second.attempts) == ("failed", 1)
    assert demo_spotify.stats()["requests"]["api"] == calls + ASKS_PER_PAGE
    assert second.resume_at - second.finished_at >= 2 * TRY_AGAIN_AFTER - SECOND

    # And when Spotify is back, the schedule's next run goes on from there to the end.
    demo_spotify.set_faults(fault_rate=0.0)
    assert try_again_due(now=second.resume_at) == 1
    third = JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))
    finished = wait_for(job_finished(third.id), timeout=60, what="the third run to end")
    assert finished.status == "succeeded", finished.error
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    assert finished.api_requests - done.api_requests < PAGES  # it went on; it did not restart
    figures(
        "never-answers",
        gave_up_at_page=done.pages_loaded,
        tries=done.attempts,
        requests_while_failing=calls - failing_from,
        tries_again_in_s=round((again - done.finished_at).total_seconds()),
        then_in_s=round((second.resume_at - second.finished_at).total_seconds()),
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_spotify_down_for_two_minutes_mid_sync_and_the_sync_ends_exact_by_itself(
    sign_in, broker, app_processes, app_env, demo_spotify
):
    # Given the Procfile's worker and scheduler, and ana's first sync half done, slowly
    # enough (5 pages a second) to be in its middle.
    app_env.update(SPOTIFY_API_RATE="5", SPOTIFY_PAGES_RATE="50")
    app_processes.start("worker")
    app_processes.start("scheduler")
    user = sign_in("ana")
    job = sync_if_needed(runtime.context(), user)
    row = lambda: JobRun.get_by_id(job.id)  # noqa: E731
    wait_for(lambda: row().pages_loaded >= PAGES // 2, timeout=120, what="half the pages")

    # When Spotify answers nothing but 5xx for two minutes...
    demo_spotify.set_faults(fault_rate=1.0)
    down_at = time.monotonic()
    gave_up = wait_for(job_finished(job.id), timeout=110, what="the sync to give up")
    gave_up_s = time.monotonic() - down_at
    time.sleep(max(0.0, 120 - (time.monotonic() - down_at)))
    demo_spotify.set_faults(fault_rate=0.0)
    back_at = time.monotonic()

    # ...then the sync, given up meanwhile with its next try on the page, goes on by itself
    # when that time comes, from where it stopped, and ends exact; nobody asked.
    assert gave_up.status == "failed" and gave_up.resume_at is not None
    wait_s = (gave_up.resume_at - utcnow()).total_seconds()
    latest = lambda: JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))  # noqa: E731
    done = wait_for(
        lambda: (j := latest()).id != job.id and j.status == "succeeded" and j,
        timeout=wait_s + 120,
        what="the schedule's run to end",
    )
    assert done.requested_by == REQUESTED_BY
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    runs = JobRun.select().where(JobRun.subject == user_subject(user.id))
    assert sorted(r.requested_by or "" for r in runs) == sorted(["user", REQUESTED_BY])
    assert done.api_requests - gave_up.api_requests < PAGES  # it went on from the checkpoint
    figures(
        "outage-2-min",
        gave_up_after_s=round(gave_up_s, 1),
        gave_up_at_page=gave_up.pages_loaded,
        ended_after_spotify_back_s=round(time.monotonic() - back_at, 1),
        new_run_requests=done.api_requests - gave_up.api_requests,
    )
