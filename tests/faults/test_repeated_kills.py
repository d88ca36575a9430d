"""A worker process SIGKILLed in the middle of a large sync, three times in a row, each time
at a later point, with a fresh worker started after each kill: the sync still ends
``succeeded`` with exactly the demo Spotify's artists, no duplicate rows and no job left
running."""

from __future__ import annotations

import time

import pytest

from actors import runtime
from actors.testing import assert_library_is_spotifys, job_finished, wait_for
from models import JobRun
from models.job_run import ACTIVE
from sync.users import sync_if_needed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Where each kill falls: after this share of the sync's pages is loaded.
KILL_POINTS = (0.10, 0.45, 0.80)
# Redis gives a dead worker's message back within about 7 s (README, crash recovery;
# tests/faults/test_host_death.py holds it under 10 s); here a fresh worker boots first.
COMES_BACK_WITHIN_S = 60


def test_a_sync_survives_three_sigkills_of_its_worker_in_a_row(
    sign_in, broker, app_processes, demo_spotify
):
    # Given ana's sync running in a worker started as the Procfile starts it, slowed down
    # so that each kill falls in the middle of it.
    demo_spotify.set_faults(latency_ms=40)
    user = sign_in("ana")
    app_processes.start("worker")
    job = sync_if_needed(runtime.context(), user)
    row = lambda: JobRun.get_by_id(job.id)  # noqa: E731
    figures = []

    for n, point in enumerate(KILL_POINTS, start=1):
        # When the worker is killed once the sync is that far along...
        total = wait_for(lambda: row().pages_total, timeout=120, what="the sync's totals")
        wait_for(
            lambda p=point, t=total: row().pages_loaded >= p * t and row().status == "running",
            timeout=180,
            what=f"{point:.0%} of the pages before kill {n}",
        )
        before = row()
        app_processes.kill("worker")
        killed_at = time.monotonic()
        assert before.status == "running" and before.pages_loaded < total, before

        # ...and a fresh one started, the job is taken up again from its checkpoint.
        app_processes.start("worker")
        wait_for(
            lambda a=before.attempts: row().attempts > a and row().status == "running",
            timeout=COMES_BACK_WITHIN_S,
            what=f"the sync to be taken up again after kill {n}",
        )
        figures.append((before.pages_loaded, time.monotonic() - killed_at))

    # Then it ends succeeded, with exactly Spotify's artists, once each.
    done = wait_for(job_finished(job.id), timeout=240, what="the sync to finish")
    assert done.status == "succeeded", (done.error, app_processes.log("worker"))
    assert done.attempts == len(KILL_POINTS) + 1
    assert done.pages_loaded == done.pages_total
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    assert not JobRun.select().where(JobRun.status.in_(ACTIVE), JobRun.actor == "update_user")
    # Each run went on from the checkpoint: the followed artists (100 pages, read in
    # order) were read again only from the last checkpoint on, never from the start.
    followed_reads = demo_spotify.stats()["routes"].get("GET /v1/me/following", 0)
    assert followed_reads < 2 * 100, followed_reads
    print(
        f"\n{done.pages_total} pages; killed at {[p for p, _ in figures]} pages loaded; "
        f"taken up again after {[f'{s:.1f} s' for _, s in figures]}; "
        f"{followed_reads} reads of the 100 followed pages"
    )
