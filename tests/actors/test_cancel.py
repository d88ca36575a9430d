"""Cancelling jobs through the API: a queued one never runs, a running sync stops at its
next page once it reads the cancel (at most a second later) and keeps what it loaded, and
only the job's owner (or an admin) may cancel."""

from __future__ import annotations

import math
import re
import time

import dramatiq

from actors.testing import job_finished, wait_for
from jobs import queueing
from jobs.progress import CANCEL_CHECK_SECONDS
from models import JobRun, User, UserArtist
from models.job_run import user_subject


def csrf_header(web) -> dict[str, str]:
    token = re.search(r'name="csrf-token" content="([^"]+)"', web.get("/").text).group(1)
    return {"X-CSRF-Token": token}


def sync_of(spotify_id: str) -> JobRun:
    user = User.get(User.spotify_id == spotify_id)
    return JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id))


def test_a_cancelled_queued_job_is_skipped_when_a_worker_takes_it(
    web, signed_in_web, broker, demo_spotify, db
):
    signed_in_web("cleo")  # a first sign-in asks for a sync; no worker runs yet
    job = sync_of("cleo")
    assert job.status == "queued"

    answer = web.post(f"/api/jobs/{job.id}/cancel", headers=csrf_header(web)).json
    assert answer["outcome"] == "cancelled" and answer["status"] == "cancelled"

    api_before = demo_spotify.stats()["requests"]["api"]
    worker = dramatiq.Worker(broker, worker_threads=2)
    worker.start()
    try:
        broker.join(queueing.INTERACTIVE_QUEUE, timeout=30_000)
    finally:
        worker.stop()
    after = JobRun.get_by_id(job.id)
    assert (after.status, after.attempts) == ("cancelled", 0)
    assert demo_spotify.stats()["requests"]["api"] == api_before
    assert UserArtist.select().count() == 0


def test_a_running_sync_stops_at_its_next_page_once_it_reads_the_cancel_and_keeps_its_pages(
    web, signed_in_web, worker, demo_spotify, app_settings
):
    demo_spotify.set_faults(latency_ms=40)
    signed_in_web("ana")  # 170 pages: about 9 s at the gate's 20 a second
    job = sync_of("ana")
    row = lambda: JobRun.get_by_id(job.id)  # noqa: E731
    progress = lambda: (row().status, row().progress_current, row().pages_total)  # noqa: E731
    wait_for(lambda: row().progress_current >= 5, 60, "five pages", seen=progress)

    answer = web.post(f"/api/jobs/{job.id}/cancel", headers=csrf_header(web)).json
    assert answer["outcome"] == "cancelling"
    asked = demo_spotify.stats()["requests"]["api"]  # the cancel is written by now
    done = wait_for(job_finished(job.id), 30, "the sync to stop", seen=progress)

    # The sync reads the cancel at most a second after it was written, and stops at its
    # next page: after the cancel it asked Spotify for at most a second of pages at the
    # gate's rate, plus the pages its threads had under way when it looked, and when it
    # saw the cancel. (Counted in requests, not seconds: a loaded machine makes every
    # page slower, never more of them.)
    threads = 1 + 3  # the followed artists' cursor, and the offset pages' threads
    rate = app_settings.spotify_api_rate
    allowed = math.ceil(CANCEL_CHECK_SECONDS * rate) + 1 + 2 * threads
    after = demo_spotify.stats()["requests"]["api"] - asked
    assert done.status == "cancelled"
    assert after <= allowed, f"{after} requests after the cancel, {allowed} allowed"
    assert 5 <= done.pages_loaded < done.pages_total
    kept = UserArtist.select().where(UserArtist.user == done.args[0]).count()
    assert kept > 0
    requests = demo_spotify.stats()["requests"]["api"]
    time.sleep(2)  # not retried, not redelivered
    assert demo_spotify.stats()["requests"]["api"] == requests
    assert JobRun.get_by_id(job.id).status == "cancelled"


def test_only_the_owner_or_an_admin_may_cancel(web, signed_in_web, broker, db):
    signed_in_web("cleo")
    job = sync_of("cleo")
    signed_in_web("ben")
    headers = csrf_header(web)

    web.post(f"/api/jobs/{job.id}/cancel", headers=headers, status=404)
    web.post("/api/jobs/x'1/cancel", headers=headers, status=404)
    web.post(f"/api/jobs/{job.id}/cancel", status=403)  # no CSRF token
    assert JobRun.get_by_id(job.id).status == "queued"

    signed_in_web("emma")  # the demo admin
    answer = web.post(f"/api/jobs/{job.id}/cancel", headers=csrf_header(web)).json
    assert answer["status"] == "cancelled"
    again = web.post(f"/api/jobs/{job.id}/cancel", headers=csrf_header(web), status=409).json
    assert "already ended" in again["error"]
