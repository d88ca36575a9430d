"""Worker processes report themselves in Redis; the list drops the ones that stopped."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import dramatiq
import pytest

from actors.middleware.worker_registry import WorkerRegistry
from actors.testing import wait_for
from config.redis_ref import RedisRef
from jobs.queueing import ARTISTS_QUEUE, BULK_QUEUE
from ops.workers import WORKER_TTL, WorkerInfo, entry_key, live_workers, write_worker

ROOT = Path(__file__).resolve().parents[2]


def registry(broker) -> WorkerRegistry:
    return next(m for m in broker.middleware if isinstance(m, WorkerRegistry))


def test_a_worker_is_listed_with_its_queues_and_current_job_until_it_shuts_down(broker, db):
    registry(broker).interval = 0.2  # beat fast, so the current job shows at once
    started, release = threading.Event(), threading.Event()

    @dramatiq.actor(broker=broker, actor_name="ops_test_slow", queue_name=BULK_QUEUE)
    def slow() -> None:
        started.set()
        release.wait(30)

    worker = dramatiq.Worker(
        broker, queues={ARTISTS_QUEUE, BULK_QUEUE}, worker_threads=3, worker_timeout=100
    )
    worker.start()
    try:
        [info] = live_workers(RedisRef.of(broker))
        assert (info.host, info.pid) == (socket.gethostname(), os.getpid())
        assert info.queues == (ARTISTS_QUEUE, BULK_QUEUE)
        assert info.threads == 3
        assert info.current == () and not info.stopping

        message = slow.send()
        assert started.wait(10)
        busy = wait_for(
            lambda: live_workers(RedisRef.of(broker))[0].current,
            timeout=10,
            what="the running message in the worker's entry",
        )
        assert [(j.message_id, j.actor, j.queue) for j in busy] == [
            (message.message_id, "ops_test_slow", BULK_QUEUE)
        ]
        release.set()
        done = wait_for(
            lambda: [w for w in live_workers(RedisRef.of(broker)) if w.processed],
            timeout=10,
            what="the message counted as processed",
        )
        assert done[0].current == () and done[0].processed == 1
    finally:
        release.set()
        worker.stop()

    assert live_workers(RedisRef.of(broker)) == []


def test_an_entry_not_refreshed_for_the_ttl_is_no_longer_listed(broker):
    now = dt.datetime.now(dt.UTC)

    def info(worker_id: str, beat: dt.datetime) -> WorkerInfo:
        return WorkerInfo(
            id=worker_id, host="h", pid=1, queues=("bulk",), threads=1, started_at=beat,
            heartbeat_at=beat, broker_id="b",
        )  # fmt: skip

    write_worker(RedisRef.of(broker), info("fresh", now))
    write_worker(RedisRef.of(broker), info("silent", now - dt.timedelta(seconds=20)))

    assert [w.id for w in live_workers(RedisRef.of(broker))] == ["fresh"]
    # Redis itself drops the entry: it carries the TTL.
    assert 0 < broker.client.ttl(entry_key(RedisRef.of(broker), "fresh")) <= WORKER_TTL


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real `dramatiq` worker process as the Procfile runs it, on two queues."""
    command = [
        str(Path(sys.executable).parent / "dramatiq"), "actors.app",
        "--processes", "1", "--threads", "2", "--queues", "artists", "bulk",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_worker_process_drops_out_of_the_list_when_it_stops_or_dies(
    broker, base_env, tmp_path, how
):
    env = {**os.environ, **base_env, "REDIS_NAMESPACE": broker.namespace}
    env.pop("SPOTIFY_CLIENT_ID", None)
    process = start_worker(env, tmp_path / "worker.log")
    try:
        [info] = wait_for(
            lambda: live_workers(RedisRef.of(broker)),
            timeout=60,
            what="the worker process in the list",
        )
        assert info.queues == (ARTISTS_QUEUE, BULK_QUEUE) and info.threads == 2
        # `dramatiq` forks its worker processes: the entry is the child's.
        assert info.pid != process.pid

        if how == "stopped":
            # To the main process only, which passes it on once: a clean stop. (Sent to the
            # whole group, the worker gets it twice, which Dramatiq takes as "kill now".)
            os.kill(process.pid, signal.SIGTERM)
            process.wait(30)
            assert live_workers(RedisRef.of(broker)) == []
        else:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
            assert live_workers(RedisRef.of(broker)) != []  # no word from it
            wait_for(
                lambda: not live_workers(RedisRef.of(broker)),
                timeout=WORKER_TTL + 10,
                what="the dead worker to drop out",
            )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
