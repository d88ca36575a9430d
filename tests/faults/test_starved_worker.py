"""A live worker starved of CPU is not declared dead (issue 21 §2 d): while busy loops keep
every core busy for four times the broker's heartbeat timeout, the worker running ana's
sync keeps it, though a second worker maintains the same queues every second, and the
recovery finds nothing to take up. The sync ends exact on its first attempt."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from dramatiq import Message

from actors import runtime
from actors.broker import HEARTBEAT_TIMEOUT_MS
from actors.redis_broker import redis_ref
from actors.testing import assert_library_is_spotifys, job_finished, wait_for
from jobs.queueing import INTERACTIVE_QUEUE
from jobs.recovery import recover_jobs
from models import JobRun
from models.db import utcnow
from models.job_run import HEARTBEAT_TIMEOUT
from sync.users import sync_if_needed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# The hog outlasts the broker's heartbeat timeout four times over (and the row's claim
# window five times): a worker that stopped beating would be found dead in it.
HOG_S = 4 * HEARTBEAT_TIMEOUT_MS / 1000


@contextlib.contextmanager
def busy_loops(count: int) -> Iterator[list[subprocess.Popen]]:
    """``count`` shell busy loops, each in a session of its own, killed on the way out."""
    hogs = [
        subprocess.Popen(["bash", "-c", "while :; do :; done"], start_new_session=True)
        for _ in range(count)
    ]
    try:
        yield hogs
    finally:
        for hog in hogs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(hog.pid, signal.SIGKILL)
            hog.wait(10)


def redis_message_id(broker, acks_key: str, message_id: str) -> str | None:
    """The broker's own id of the message ``message_id`` among the ids in ``acks_key``."""
    messages = f"{broker.namespace}:{INTERACTIVE_QUEUE}.msgs"
    for redis_id in broker.client.smembers(acks_key):
        data = broker.client.hget(messages, redis_id)
        if data is not None and Message.decode(data).message_id == message_id:
            return redis_id.decode()
    return None


def test_a_worker_starved_of_cpu_keeps_its_sync_and_is_never_recovered(
    sign_in, broker, app_processes, demo_spotify
):
    # Given ana's sync running on worker-1, slowed down so that it outlasts the hog, and
    # worker-2 of the same line beside it, maintaining the same queues every second...
    # Each answer takes 600 ms: the 160 pages left after the first ten take at least 32 s
    # on the sync's 3 page threads however fast the machine, past the 20 s hog. (At 150 ms
    # a quiet machine finished the sync before the hog did.)
    demo_spotify.set_faults(latency_ms=600)
    user = sign_in("ana")
    ref = redis_ref(broker)
    app_processes.start("worker", as_name="worker-1")
    job = sync_if_needed(runtime.context(), user)
    row = lambda: JobRun.get_by_id(job.id)  # noqa: E731
    one = wait_for(lambda: app_processes.worker_entry(ref, "worker-1"), what="worker-1")
    acks = f"{broker.namespace}:__acks__.{one.broker_id}.{INTERACTIVE_QUEUE}"
    held = wait_for(lambda: redis_message_id(broker, acks, job.message_id), timeout=60,
                    what="worker-1 to hold the sync's message")  # fmt: skip
    app_processes.start("worker", as_name="worker-2")
    wait_for(lambda: app_processes.worker_entry(ref, "worker-2"), what="worker-2")
    wait_for(lambda: row().pages_loaded >= 10 and row().status == "running", timeout=120,
             what="ten pages of the sync")  # fmt: skip

    # When busy loops keep every core busy for four heartbeat timeouts...
    heartbeats = f"{broker.namespace}:__heartbeats__"
    worst_beat_ms, worst_row_s, samples, revived = 0, 0.0, 0, 0
    with busy_loops(max(2, os.cpu_count() or 2)):
        end = time.monotonic() + HOG_S
        while time.monotonic() < end:
            current = row()
            assert current.status == "running", "the sync ended before the hog did: slow it"
            with broker.client.pipeline(transaction=False) as pipe:
                pipe.time().zscore(heartbeats, one.broker_id).sismember(acks, held)
                (seconds, micros), beat, still_held = pipe.execute()
            # ...worker-1 keeps the message: nothing gave it back to the queue...
            assert still_held, (samples, current.__data__, app_processes.log("worker-1"))
            worst_beat_ms = max(worst_beat_ms, seconds * 1000 + micros // 1000 - int(beat))
            worst_row_s = max(worst_row_s, (utcnow() - current.heartbeat_at).total_seconds())
            # ...its row never looks dead to a claim, and the recovery takes nothing up.
            assert current.attempts == 1, current.__data__
            assert job.id not in {j.id for j in JobRun.stale_running(utcnow() - HEARTBEAT_TIMEOUT)}
            revived += recover_jobs(now=utcnow()).revived
            samples += 1
            time.sleep(0.25)
    assert revived == 0

    # Then the sync ends exact on its first attempt: no other worker ever took it.
    done = wait_for(job_finished(job.id), timeout=300, what="the sync to finish")
    assert done.status == "succeeded", (done.error, app_processes.log("worker-1"))
    assert done.attempts == 1
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    # worker-2 never ran it nor handed it back (every line about a message names it).
    assert job.message_id not in app_processes.log("worker-2", whole=True)
    print(
        f"\n{samples} samples in {HOG_S:.0f} s of {max(2, os.cpu_count() or 2)} busy loops: "
        f"worker-1's slowest broker heartbeat {worst_beat_ms / 1000:.2f} s "
        f"(timeout {HEARTBEAT_TIMEOUT_MS / 1000:.0f} s); its job row's slowest "
        f"{worst_row_s:.2f} s (claim window {HEARTBEAT_TIMEOUT.total_seconds():.0f} s)"
    )
    assert dt.timedelta(seconds=worst_row_s) < HEARTBEAT_TIMEOUT
    assert worst_beat_ms < HEARTBEAT_TIMEOUT_MS
