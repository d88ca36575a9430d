"""The development runner restarts a process that dies, gives up on one that keeps dying,
and stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.devrun import Supervisor
from config.settings import ROOT


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process still running: not gone, and not a zombie waiting for
    whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_process_that_dies_once_is_restarted(tmp_path, capsys):
    flag = tmp_path / "flag"
    command = f"sh -c 'if [ -f {flag} ]; then sleep 60; else touch {flag}; exit 3; fi'"
    sup = Supervisor({"flaky": command}, dict(os.environ), tmp_path, max_delay=0.1)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(sup.run()))
    runner.start()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(sup.children[0].deaths) < 1:
        time.sleep(0.05)
    time.sleep(1.0)
    child = sup.children[0].process
    assert child.poll() is None  # the restarted process is up
    sup.stopping.set()
    runner.join(20)

    assert result == [0]
    assert not _pid_alive(child.pid) or child.poll() is not None
    assert "exited with code 3; restarting" in capsys.readouterr().out


def test_a_process_that_keeps_dying_stops_everything_with_a_clear_message(tmp_path, capsys):
    sup = Supervisor(
        {"broken": "sh -c 'exit 7'", "steady": "sleep 60"},
        dict(os.environ),
        tmp_path,
        max_restarts=2,
        max_delay=0.05,
    )

    code = sup.run()

    out = capsys.readouterr().out
    assert code == 1
    assert "exited with code 7 3 times" in out
    assert "stopping everything" in out
    steady = sup.children[1].process
    assert steady.poll() is not None  # the healthy process was stopped too


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)
def test_a_run_that_is_sigkilled_leaves_none_of_its_processes_running(tmp_path):
    # Given a supervisor in a process of its own, running a child...
    code = (
        "import os, sys; from pathlib import Path; from cli.devrun import Supervisor;"
        "sys.exit(Supervisor({'steady': 'sleep 120'}, dict(os.environ), Path('.')).run())"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert run.stdout is not None
    started = re.search(r"started \(pid (\d+)\)", run.stdout.readline())
    assert started, "the supervisor never said it started its child"
    child = int(started.group(1))
    assert _running(child)
    # ...when the supervisor is SIGKILLed, so that it runs none of its own stopping,
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    # then its child does not live on.
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def test_demo_mode_adds_the_demo_spotify_and_real_spotify_does_not(tmp_path):
    from cli.devrun import commands_for
    from config.settings import Settings

    demo = Settings.from_env({"OVERLAP_VAR_DIR": str(tmp_path)}, read_dotenv=False)
    real = Settings.from_env(
        {
            "OVERLAP_VAR_DIR": str(tmp_path),
            "SPOTIFY_CLIENT_ID": "id",
            "SPOTIFY_CLIENT_SECRET": "secret",
            "SECRET_KEY": "s" * 32,
            "TOKEN_KEY": "a" * 43 + "=",
            "SPOTIFY_API_URL": "https://api.example/v1",
            "SPOTIFY_ACCOUNTS_URL": "https://accounts.example",
            "SPOTIFY_OPEN_URL": "https://open.example",
        },
        read_dotenv=False,
    )

    procfile = {"web", "worker", "worker-bulk", "scheduler"}
    assert set(commands_for(demo)) == procfile | {"demo-spotify"}
    assert set(commands_for(real)) == procfile
    assert real.spotify_api_url == "https://api.example/v1"


def test_the_release_line_runs_the_migrations_once_and_the_runner_skips_it(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from honcho.environ import parse_procfile

    from cli.devrun import commands_for
    from config.settings import ROOT, Settings

    lines = dict(parse_procfile((ROOT / "Procfile").read_text()).processes)
    assert lines["release"] == "overlap db upgrade"
    # The runner restarts what exits: it must not start the line that runs once.
    settings = Settings.from_env({"OVERLAP_VAR_DIR": str(tmp_path)}, read_dotenv=False)
    assert "release" not in commands_for(settings)

    # As a platform runs it before a release: on an empty database, every script applied.
    database = tmp_path / "release.db"
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "OVERLAP_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
    }

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env, timeout=120,
            capture_output=True, text=True,
        )  # fmt: skip

    assert run("overlap db status").returncode == 1  # pending scripts
    done = run(lines["release"])
    assert done.returncode == 0, done.stderr
    assert run("overlap db status").returncode == 0, "a script is still pending"
