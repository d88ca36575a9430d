"""Issue 21 §2 f for the scheduler: two real scheduler processes, one on a host whose clock
runs 120 s behind (Debian's ``faketime``), one right. The skewed one sends no tick, takes
no lease and says why; the right one sends every minute's tick, once: none doubled, none
lost (a tick sent 120 s late would be skipped by the workers as older than 60 s)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from actors.scheduler_lease import scheduler_status
from actors.testing import wait_for
from config.redis_ref import RedisRef
from ops.clock_watch import process_clocks
from tests.actors.test_scheduled_actor import periodic_ticks, recover_minutes, start_scheduler
from tests.faults.test_clock_skew import NEEDS_FAKETIME, SLEEP_SHIM

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400), NEEDS_FAKETIME]

SKEW_LOG = "it sends no tick until it is set right"


def test_a_scheduler_120_s_behind_sends_nothing_and_no_tick_is_doubled_or_lost(
    broker, base_env, tmp_path
):
    env = {**os.environ, **base_env, "REDIS_NAMESPACE": broker.namespace}
    shim = tmp_path / "faketime-shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SLEEP_SHIM)
    # Only the wall clock is off (see tests/faults/test_clock_skew.py).
    faked = ["FAKETIME_DONT_FAKE_MONOTONIC=1", f"PYTHONPATH={shim}", "faketime", "-f", "-120s"]
    ref = RedisRef.of(broker)
    # Given the skewed scheduler first, so that it had every chance to take the lease...
    behind = start_scheduler(env, tmp_path / "behind.log", faked)
    processes = [behind]
    try:
        wait_for(lambda: process_clocks(ref), timeout=60, what="the skewed scheduler's report")
        # ...and the right one once the skewed one is through its first minute's ticks.
        wait_for(lambda: "Scheduling" in (tmp_path / "behind.log").read_text(), timeout=60,
                 what="the skewed scheduler's first ticks")  # fmt: skip
        right = start_scheduler(env, tmp_path / "right.log")
        processes.append(right)
        started = time.time()
        first = wait_for(lambda: recover_minutes(broker), timeout=60, what="a first tick")[0]
        wait_for(lambda: len(recover_minutes(broker)) >= 3, timeout=200,
                 what="two more minutes' ticks")  # fmt: skip
        time.sleep(3)  # room for a second message of the last minute, had one been sent
        assert all(p.poll() is None for p in processes), "a scheduler died"
        status = scheduler_status(ref)
        clocks = process_clocks(ref)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(10)

    behind_log = (tmp_path / "behind.log").read_text()
    # Then each tick went once...
    ticks = periodic_ticks(broker)
    assert set(ticks.values()) == {1}, sorted(ticks.items())
    # ...every minute from the right one's start, none skipped and none 120 s old...
    minutes = recover_minutes(broker)
    assert [(m - first).total_seconds() for m in minutes] == [60.0 * n for n in range(len(minutes))]
    assert first.timestamp() > started - 60, (first, started)
    # ...all by the right scheduler, which holds the lease; the skewed one never did.
    assert status["holder"].endswith(f":{right.pid}") and status["last_tick_by"] == status["holder"]
    assert "holds the lease" not in behind_log
    # And the skewed one said why, once, in its log and in its report (dashboard, /metrics).
    lines = [line for line in behind_log.splitlines() if SKEW_LOG in line]
    assert len(lines) == 1 and "s behind Redis's" in lines[0], behind_log
    assert "Scheduling" in behind_log  # periodiq fired on its clock; nothing went out
    # (faketime runs the scheduler in a child process: its pid is not behind.pid.)
    [skewed] = [c for c in clocks if c.skewed]
    [fine] = [c for c in clocks if not c.skewed]
    assert fine.id.endswith(f":{right.pid}") and abs(fine.offset or 0) < 1
    assert skewed.role == "scheduler" and 118 < (skewed.offset or 0) < 122
