"""Issue 21 §2 f: one worker host's clock 120 s ahead, another's 120 s behind (Debian's
``faketime``), one right, each a real ``worker`` process as the Procfile starts it, on one
Redis and one database. The two skewed ones fetch nothing and say why, in their log, in
the worker list (the dashboard) and in ``/metrics``; the right one does the whole sync,
which ends exact, with no message taken from it and no job recovered while it runs."""

from __future__ import annotations

import shutil
import time

import pytest

from actors import runtime
from actors.testing import assert_library_is_spotifys, job_finished, wait_for
from config.redis_ref import RedisRef
from models import JobRun
from models.db import utcnow
from ops.metrics import render_metrics
from ops.workers import WorkerInfo, live_workers
from sync.users import sync_if_needed

NEEDS_FAKETIME = pytest.mark.skipif(
    shutil.which("faketime") is None,
    reason="needs Debian's faketime (apt-get install faketime; .ci/run installs it)",
)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), NEEDS_FAKETIME]

SKEWS = {"worker-ahead": "+120s", "worker-behind": "-120s"}
# ana's sync takes about 30 s on one worker here; far more means it went wrong.
SYNC_WITHIN_S = 240

# libfaketime 0.9.10 (Debian 12) fails the clock_nanosleep of Python's time.sleep with
# EINVAL once FAKETIME_DONT_FAKE_MONOTONIC is set (and without it, every timed wait of a
# lock or an Event waits on the faked monotonic clock: 120 s too long, or forever). So the
# skewed processes load this: time.sleep waits in select(), on the real clock, as long.
SLEEP_SHIM = """
import select, time
def _sleep(seconds):
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)
time.sleep = _sleep
"""


def held_workers(broker) -> list[WorkerInfo]:
    return [w for w in live_workers(RedisRef.of(broker)) if w.clock_held]


def test_workers_120_s_off_fetch_nothing_and_the_right_one_s_sync_ends_exact(
    sign_in, broker, app_processes, demo_spotify, web, signed_in_web, tmp_path
):
    # Given a worker 120 s ahead and one 120 s behind, started first, so that each had
    # every chance to fetch...
    demo_spotify.set_faults(latency_ms=10)
    shim = tmp_path / "faketime-shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SLEEP_SHIM)
    for name, skew in SKEWS.items():
        command = app_processes.commands["worker"]
        # Only the wall clock is off, as on a host whose NTP failed: its monotonic clock,
        # which every timed wait uses (and which has no epoch to be off from), runs true.
        app_processes.commands[name] = (
            f"env FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH={shim} faketime -f {skew} {command}"
        )
        app_processes.start(name)
    held = wait_for(lambda: len(held_workers(broker)) == 2 and held_workers(broker), 90,
                    "both skewed workers to list themselves, held")  # fmt: skip
    # Within the round trip to Redis (the machine is loaded) of the 120 s set.
    offsets = sorted(round(w.clock_offset or 0, 1) for w in held)
    assert -122 < offsets[0] < -118 and 118 < offsets[1] < 122, offsets

    # ...when the right worker starts and ana's sync is asked for, with the crash recovery
    # sent again and again meanwhile (the scheduler sends it every minute)...
    from actors.periodic import recover  # declared on the test's broker

    user = sign_in("ana")
    app_processes.start("worker")
    job = sync_if_needed(runtime.context(), user)
    assert job is not None
    recoveries, etas, asked = 0, [], time.monotonic()
    while not job_finished(job.id)() and time.monotonic() - asked < SYNC_WITHIN_S:
        recover.send()
        recoveries += 1
        row = JobRun.get_by_id(job.id)
        if row.eta_at is not None:
            etas.append((row.eta_at - utcnow()).total_seconds())
        time.sleep(2)
    done = wait_for(job_finished(job.id), timeout=5, what="the sync to finish")
    took = time.monotonic() - asked

    # Then the sync ends exact, run once, by the right worker alone.
    assert done.status == "succeeded", (done.error, app_processes.log("worker"))
    assert done.attempts == 1, "the sync's message was taken from its live worker"
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    assert JobRun.select().where(JobRun.attempts > 1).count() == 0
    workers = {w.id: w for w in live_workers(RedisRef.of(broker))}
    skewed = [w for w in workers.values() if w.clock_held]
    right = [w for w in workers.values() if not w.clock_held]
    assert len(skewed) == 2 and [w.processed for w in skewed] == [0, 0], (
        workers,
        app_processes.log("worker-ahead"),
        app_processes.log("worker-behind"),
    )
    assert len(right) == 1 and right[0].processed > 0
    assert abs(right[0].clock_offset or 0) < 1
    # Its ETAs and its duration are on the one clock: none in the past by more than the
    # 2 s between two reads, none beyond the whole sync, and a duration within its time.
    assert etas and all(-5 < eta < SYNC_WITHIN_S for eta in etas), etas
    duration = (done.finished_at - done.started_at).total_seconds()
    assert 0 < duration <= took + 1, (duration, took)
    # No recovery found a live job to send again.
    log = app_processes.log("worker", whole=True)
    assert "had no heartbeat since" not in log
    assert "Unexpected failure" not in log

    # And each skewed worker said why, once, in its log...
    for name, way in (("worker-ahead", "ahead of"), ("worker-behind", "behind")):
        lines = [
            line for line in app_processes.log(name, whole=True).splitlines()
            if "fetching nothing until it is set right" in line
        ]  # fmt: skip
        # One line per worker process (WORKER_PROCESSES, 1 here), never one per fetch.
        assert len(lines) == 1, app_processes.log(name)
        assert "WARNING" in lines[0] and f"s {way} Redis's" in lines[0], lines[0]
    # ...on the dashboard...
    signed_in_web("emma")
    page = web.get("/admin").text
    assert (
        page.count("ahead of Redis&#39;s: fetching nothing")
        + page.count("ahead of Redis's: fetching nothing")
        == 1
    ), page
    assert "2 worker processes fetch nothing" in page
    # ...and in /metrics.
    metrics = render_metrics(RedisRef.of(broker)).decode()
    assert "overlap_workers_clock_held 2.0" in metrics
    print(
        f"\nskewed workers' offsets {offsets} s, processed {[w.processed for w in skewed]}; "
        f"the right one processed {right[0].processed} messages; {recoveries} recoveries "
        f"sent during the sync, none revived anything; {done.pages_total} pages in "
        f"{duration:.1f} s (asked to finished: {took:.1f} s)"
    )
