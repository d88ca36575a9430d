"""A worker process killed in the middle of a large sync: Redis gives its message back, the
job goes on from its checkpoint, and the user's artists end up exactly Spotify's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from actors import runtime
from actors.testing import assert_library_is_spotifys, job_finished, wait_for
from models import JobRun
from sync.users import sync_if_needed

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real `dramatiq` worker, as the Procfile runs it, on the people's queue only."""
    command = [
        str(Path(sys.executable).parent / "dramatiq"), "actors.app",
        "--processes", "1", "--threads", "2", "--queues", "interactive",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


def stop(worker: subprocess.Popen) -> None:
    """Stop a worker started by ``start_worker`` as a deploy would."""
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(30)


def worker_env(base_env, broker, demo_spotify) -> dict[str, str]:
    env = {
        **os.environ,
        **base_env,
        "DEMO_SPOTIFY_PORT": str(demo_spotify.port),
        "REDIS_NAMESPACE": broker.namespace,
    }
    env.pop("SPOTIFY_CLIENT_ID", None)
    return env


def test_a_killed_worker_s_sync_is_redelivered_and_finishes_from_its_checkpoint(
    sign_in, broker, base_env, demo_spotify, tmp_path
):
    demo_spotify.set_faults(latency_ms=40)
    user = sign_in("ana")
    env = worker_env(base_env, broker, demo_spotify)
    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    job = sync_if_needed(runtime.context(), user)

    def loaded() -> int:
        return JobRun.get_by_id(job.id).pages_loaded

    wait_for(lambda: loaded() >= 20, timeout=60, what="20 pages before the kill")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    at_kill = loaded()
    killed_at = time.monotonic()
    second = start_worker(env, log)
    try:
        wait_for(
            lambda: JobRun.get_by_id(job.id).attempts >= 2,
            timeout=60,
            what="the message to come back",
        )
        came_back_after = time.monotonic() - killed_at
        done = wait_for(job_finished(job.id), timeout=120, what="the sync to finish")
    finally:
        stop(second)

    assert done.status == "succeeded", done.error
    assert came_back_after < 30, f"the message came back after {came_back_after:.1f} s"
    assert at_kill < done.pages_total
    assert done.pages_loaded == done.pages_total
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
    # It went on from its checkpoint: the followed pages before the kill were not read again.
    followed_reads = demo_spotify.stats()["routes"].get("GET /v1/me/following", 0)
    assert followed_reads <= 100 + 2


def test_sigterm_checkpoints_the_running_sync_and_the_next_worker_finishes_it(
    sign_in, broker, base_env, demo_spotify, tmp_path
):
    demo_spotify.set_faults(latency_ms=40)
    user = sign_in("ana")
    env = worker_env(base_env, broker, demo_spotify)
    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    job = sync_if_needed(runtime.context(), user)
    wait_for(lambda: JobRun.get_by_id(job.id).pages_loaded >= 20, 60, "20 pages")

    stop_asked = time.monotonic()
    first.send_signal(signal.SIGTERM)  # a deploy: the master passes it to its workers
    first.wait(30)
    stopped_after = time.monotonic() - stop_asked
    handed_back = JobRun.get_by_id(job.id)

    assert stopped_after < 10, f"the worker took {stopped_after:.1f} s to stop"
    assert handed_back.status == "retrying"
    assert 20 <= handed_back.pages_loaded < handed_back.pages_total
    assert "SyncInterrupted" in handed_back.error or "stop" in handed_back.error

    second = start_worker(env, log)
    try:
        done = wait_for(job_finished(job.id), timeout=120, what="the sync to finish")
    finally:
        stop(second)
    assert done.status == "succeeded", done.error
    # The stopping worker may take the handed-back message once more and hand it back again.
    assert done.attempts >= 2
    assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
