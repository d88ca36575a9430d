"""What the load tests share: the app's processes started from the Procfile (through the
helpers of ``bench/web_compare.py``, which the benchmark uses too), their environment, wrk,
and how long to load.

``LOAD_TEST_SECONDS`` (default 60) shortens the load for a quick local run; CI keeps 60.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
import requests

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts, not a package

import web_compare  # noqa: E402  (bench/web_compare.py; the test modules import it too)


@pytest.fixture
def load_seconds() -> int:
    """How long each load lasts: ``$LOAD_TEST_SECONDS``, 60 by default."""
    return int(os.environ.get("LOAD_TEST_SECONDS") or 60)


@pytest.fixture
def say(capsys: pytest.CaptureFixture) -> Callable[[str], None]:
    """Print past pytest's capture, so that a run's figures show in every run's log."""

    def say(text: str) -> None:
        with capsys.disabled():
            print(f"\n{text}", flush=True)

    return say


@pytest.fixture
def wrk() -> str:
    """The path of ``wrk``; the test is skipped, saying why, when it is not installed."""
    path = shutil.which("wrk")
    if path is None:
        pytest.skip("wrk is not installed: `apt-get install wrk` (Debian's package)")
    return path


class AppProcesses:
    """The Procfile's processes of one test, each started with ``start`` and all stopped
    (SIGTERM, then SIGKILL after 30 s) when the test ends."""

    def __init__(self, env: dict[str, str], log_dir: Path, stack: ExitStack) -> None:
        self.env = env
        self.log_dir = log_dir
        self.stack = stack

    def web(self) -> str:
        """Start the ``web`` process on a free port; its base URL once ``/healthz`` is 200."""
        return self.stack.enter_context(web_compare.web_server(self.env, self.log_path("web")))

    def start(self, name: str) -> subprocess.Popen:
        """Start the Procfile's ``name`` process (``worker``, ``worker-bulk``)."""
        log = self.log_path(name)
        return self.stack.enter_context(web_compare.procfile_process(name, self.env, log))

    def command(self, name: str, args: list[str], env: dict[str, str], ready_url: str) -> None:
        """Start one more command of the venv, with ``env`` added to the processes', and
        wait until ``ready_url`` answers 200."""
        with self.log_path(name).open("ab") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / args[0]), *args[1:]], env={**self.env, **env},
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        self.stack.callback(_stop, process)
        deadline = time.monotonic() + 60
        while not _answers(ready_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{self.log(name)}")
            time.sleep(0.2)

    def log_path(self, name: str) -> Path:
        """Where a process's output goes."""
        return self.log_dir / f"{name}.log"

    def log(self, name: str) -> str:
        """The end of a process's output, for failure messages."""
        path = self.log_path(name)
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def app_env(base_env, namespace, tmp_path) -> dict[str, str]:
    """The environment of the app's processes: the test database and Redis under the test's
    own namespace, demo mode, default settings otherwise (a test adds the demo's port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DEMO_"))}
    env.update(base_env)
    env.update(OVERLAP_VAR_DIR=str(tmp_path), REDIS_NAMESPACE=namespace, PYTHONUNBUFFERED="1")
    env.pop("PORT", None)
    return env


@pytest.fixture
def app_processes(app_env, db, namespace, redis_url, tmp_path) -> Iterator[AppProcesses]:
    """Start the app's processes with ``.web()``, ``.start(name)`` and ``.command(...)``;
    after the test they are stopped before the database is emptied, and their Redis keys
    removed."""
    with ExitStack() as stack:
        yield AppProcesses(app_env, tmp_path, stack)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


def _answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=2).status_code == 200
    return False
