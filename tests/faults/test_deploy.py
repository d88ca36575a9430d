"""A deploy in the middle of a sync: SIGTERM to every process of the Procfile, each to its
main pid as a process manager sends it. Each stops within its shutdown timeout, the sync
saves its checkpoint and hands its message back (its job row waits, it does not say
running), and once the processes are started again the sync finishes from there."""

from __future__ import annotations

import signal
import time

import pytest

from actors.testing import assert_library_is_spotifys, job_finished, wait_for
from models import JobRun, User
from models.job_run import ACTIVE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PROCESSES = ("web", "worker", "worker-bulk", "scheduler")
# Each process's own shutdown bound (the Procfile: gunicorn's --graceful-timeout 20,
# dramatiq's --worker-shutdown-timeout 30000); periodiq holds no work and stops at once.
STOPS_WITHIN_S = {"web": 20, "worker": 30, "worker-bulk": 30, "scheduler": 10}


def test_sigterm_to_every_process_mid_sync_checkpoints_it_and_a_restart_finishes_it(
    db, app_processes, demo_spotify
):
    # Given every process of the Procfile running, and ana's first sync well under way.
    for name in PROCESSES:
        app_processes.start(name)
    app_processes.wait_for_web()
    demo_spotify.set_faults(latency_ms=40)
    ana = app_processes.sign_in(demo_spotify, "ana")
    job_id = ana.get(f"{app_processes.web_url}/api/me", timeout=30).json()["sync"]["job_id"]
    row = lambda: JobRun.get_by_id(job_id)  # noqa: E731
    total = wait_for(lambda: row().pages_total, timeout=120, what="the sync's totals")
    wait_for(lambda: row().pages_loaded >= total // 4, timeout=180, what="a quarter of the pages")
    before = row()
    assert before.status == "running"

    # When each process gets SIGTERM, as a deploy sends it...
    asked_at = time.monotonic()
    for name in PROCESSES:
        app_processes.terminate(name)
    stopped_after, codes = {}, {}
    deadline = asked_at + max(STOPS_WITHIN_S.values()) + 10
    while len(codes) < len(PROCESSES) and time.monotonic() < deadline:
        for name in PROCESSES:
            code = app_processes.running[name].poll()
            if name not in codes and code is not None:
                codes[name], stopped_after[name] = code, time.monotonic() - asked_at
        time.sleep(0.05)
    for name in set(PROCESSES) - set(codes):
        pytest.fail(f"{name} did not stop:\n{app_processes.log(name)}")

    # ...then each stopped in time, all its processes with it, and cleanly (periodiq keeps
    # SIGTERM's default action: it ends there, with no work in hand).
    for name in PROCESSES:
        assert stopped_after[name] < STOPS_WITHIN_S[name], (name, stopped_after[name])
        assert not app_processes.members(name), f"{name} left processes behind"
        expected = (0, -signal.SIGTERM) if name == "scheduler" else (0,)
        assert codes[name] in expected, (name, codes[name], app_processes.log(name))
    # The sync saved its checkpoint and handed its message back: its row waits.
    handed_back = row()
    assert handed_back.status == "retrying", (handed_back.status, app_processes.log("worker"))
    assert before.pages_loaded <= handed_back.pages_loaded < total
    assert handed_back.checkpoint["pages_loaded"] == handed_back.pages_loaded
    assert "stop" in handed_back.error

    # When the processes are started again, the sync goes on and finishes.
    restarted_at = time.monotonic()
    for name in PROCESSES:
        app_processes.start(name)
    app_processes.wait_for_web()
    done = wait_for(job_finished(job_id), timeout=240, what="the sync to finish")
    finished_after = time.monotonic() - restarted_at

    assert done.status == "succeeded", (done.error, app_processes.log("worker"))
    assert done.pages_loaded == done.pages_total
    user = User.get(User.spotify_id == "ana")
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    assert not JobRun.select().where(JobRun.status.in_(ACTIVE), JobRun.actor == "update_user")
    # The same browser is still signed in and sees it.
    me = ana.get(f"{app_processes.web_url}/api/me", timeout=30).json()
    assert me["sync"]["status"] == "succeeded"
    stopped = {name: round(seconds, 1) for name, seconds in stopped_after.items()}
    print(
        f"\nstopped after {stopped} s, exit codes {codes}; "
        f"handed back at {handed_back.pages_loaded} of {total} pages; "
        f"finished {finished_after:.1f} s after the restart, {done.attempts} attempts"
    )
