"""`overlap run` (what `make run` calls) brings up the whole demo app with one command,
restarts a process that dies, and Ctrl+C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cli.embedded_redis import die_with_parent, free_port

BIN = Path(sys.executable).parent
# How long one answer of a process that is up may take. The test is about processes coming
# up and going down, not about speed: on a busy 2-core machine, where five processes have
# just started at once, a first page (its templates compiled) can take seconds.
ANSWER_S = 30


def _wait_for(url: str, timeout: float = 60) -> requests.Response:
    """The first 200 from ``url`` within ``timeout`` seconds.

    The server is ready when it answers. Until it listens, a connection is refused and
    tried again. gunicorn's master listens at once, but its worker answers only once it has
    imported the app, which takes seconds on a busy machine: the accepted connection waits
    in the listen queue, and gets the time left for its answer.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            left = max(deadline - time.monotonic(), 1.0)
            response = requests.get(url, timeout=(2, left))  # (connect, read)
            if response.status_code == 200:
                return response
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.3)


def _started_pids(log: Path) -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {}
    for name, pid in re.findall(r"^\S+ (\S+)\s+\| started \(pid (\d+)\)", log.read_text(), re.M):
        pids.setdefault(name, []).append(int(pid))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it is only waiting for its parent to reap it.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def _group(pgid: int) -> list[int]:
    """The live processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.fixture
def app_run(tmp_path, base_env):
    port, demo_port = free_port(), free_port()
    # A configured database is the session's own (under xdist, the worker's); else a new file.
    database_url = base_env["DATABASE_URL"] if os.environ.get("DATABASE_URL") else None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DEMO_"))}
    env.update(
        OVERLAP_VAR_DIR=str(tmp_path),
        PORT=str(port),
        DEMO_SPOTIFY_PORT=str(demo_port),
        DATABASE_URL=database_url or f"sqlite:///{tmp_path / 'run.db'}",
        WEB_CONCURRENCY="1",
        WORKER_THREADS="2",
    )
    env.pop("REDIS_URL", None)  # the embedded Redis, as on a fresh machine
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        subprocess.run([BIN / "overlap", "db", "upgrade"], env=env, check=True, stdout=out)
        # SIGTERMed, as by Ctrl+C, when the test's process dies without this teardown (a
        # killed pytest or xdist worker): else it would run on, its embedded Redis with it.
        proc = subprocess.Popen(
            [BIN / "overlap", "run"], env=env, stdout=out, stderr=out, preexec_fn=die_with_parent()
        )
    try:
        yield proc, port, demo_port, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()  # its embedded Redis dies with it
                proc.wait()


def test_one_command_brings_up_every_process_and_ctrl_c_stops_them_all(app_run):
    proc, port, demo_port, log = app_run

    health = _wait_for(f"http://127.0.0.1:{port}/healthz")
    assert health.json()["status"] == "ok"
    assert "Demo mode" in requests.get(f"http://127.0.0.1:{port}/", timeout=ANSWER_S).text
    _wait_for(f"http://127.0.0.1:{demo_port}/_demo/stats")
    demo = requests.get(f"http://127.0.0.1:{demo_port}/v1/me", timeout=ANSWER_S)
    assert demo.status_code == 401  # the demo Spotify is up and wants a token
    pids = _started_pids(log)
    assert set(pids) == {"demo-spotify", "web", "worker", "worker-bulk", "scheduler"}

    # A worker that dies is started again, and its orphaned worker processes are ended.
    killed = pids["worker"][0]
    wait_for_group = time.monotonic() + 20
    while len(_group(killed)) < 2 and time.monotonic() < wait_for_group:
        time.sleep(0.2)  # the dramatiq master and its forked worker process
    assert len(_group(killed)) >= 2
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while len(_started_pids(log).get("worker", [])) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_started_pids(log)["worker"]) == 2
    assert "exited with code -9; restarting" in log.read_text()
    assert _group(killed) == []

    proc.send_signal(signal.SIGINT)
    assert proc.wait(40) == 0
    every_pid = [pid for group in _started_pids(log).values() for pid in group]
    assert not [pid for pid in every_pid if _alive(pid)]
    assert "overlap: stopped" in log.read_text()
