"""What the fault tests share: the worker's runtime settings and a signed-in page session
for the tests of Spotify's faults, the app's processes started from the Procfile's own
command lines, as a process manager runs them, and a PostgreSQL cluster of the test's own
that a test may stop and start again (the machine's PostgreSQL is shared and never
touched)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import bottle
import pytest
import redis
import requests
from honcho.environ import parse_procfile

from cli.embedded_redis import free_port
from config.redis_ref import RedisRef
from ops.workers import WorkerInfo, live_workers

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The client gives up on a stalled answer after this (the production default is 10 s).
TEST_TIMEOUT_S = 1.0


@pytest.fixture
def use_settings(app_settings, broker):
    """Reconfigure the worker's runtime (its Spotify clients and gate) with these settings
    (the short ``TEST_TIMEOUT_S`` unless they give a ``spotify_timeout``)."""
    from actors import runtime

    def use(**changes):
        changes = {"spotify_timeout": TEST_TIMEOUT_S, **changes}
        settings = app_settings.but(redis_namespace=broker.namespace, **changes)
        return runtime.configure(settings)

    return use


@pytest.fixture
def sign_in_web(app_settings):
    """Give a WebTest client a person's session cookie, made by the app's own session store
    (no sign-in flow, so no sync is asked for); returns its CSRF token."""
    from models.db import utcnow
    from web.http.session import COOKIE, Session, SessionStore

    def sign_in_web(web, user) -> str:
        session = Session(
            uid=user.id, spotify_id=user.spotify_id, signed_in_at=utcnow().isoformat()
        )
        csrf = session.csrf_token  # made now: the session is then new, and saved
        response = bottle.BaseResponse()
        request = bottle.BaseRequest({"wsgi.url_scheme": "http", "HTTP_HOST": "localhost"})
        SessionStore(app_settings.secret_key).save(session, request, response)
        cookie = next(v for k, v in response.headerlist if k.lower() == "set-cookie")
        web.set_cookie(COOKIE, SimpleCookie(cookie)[COOKIE].value)
        return csrf

    return sign_in_web


class AppProcesses:
    """The Procfile's processes (``web``, ``worker``, ``worker-bulk``, ``scheduler``),
    each started as a process manager starts it: ``sh -c "exec <line>"`` in a session of
    its own, its output in ``<name>.log`` under ``log_dir``."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        # Every line, release included: a test starts a line by its name.
        self.commands = dict(parse_procfile((ROOT / "Procfile").read_text()).processes)
        self.running: dict[str, subprocess.Popen] = {}
        # Every OAuth code ``sign_in`` used (the log tests look for them).
        self.oauth_codes: list[str] = []
        self.started: list[subprocess.Popen] = []

    @property
    def web_url(self) -> str:
        """The base URL of the ``web`` process."""
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self, name: str, as_name: str | None = None) -> subprocess.Popen:
        """Start the Procfile's ``name`` process (again, after a stop or a kill); with
        ``as_name``, a further one of that line, known by that name (``worker-2``)."""
        line, name = self.commands[name], as_name or name
        with (self.log_dir / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {line}"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.running[name] = process
        self.started.append(process)
        return process

    def terminate(self, name: str) -> None:
        """SIGTERM to the process's main pid only, as a deploy does. (Its own workers hear
        it from their master: a second SIGTERM straight to a dramatiq worker process makes
        it exit at once, without finishing its page.)"""
        self.running[name].send_signal(signal.SIGTERM)

    def kill(self, name: str) -> None:
        """SIGKILL to the process and every process it started."""
        process = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def members(self, name: str) -> set[int]:
        """The live processes of ``name``'s process group: its master and its workers."""
        pgid = self.running[name].pid
        members = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.add(int(stat.parent.name))
        return members

    def worker_entry(self, ref: RedisRef, name: str) -> WorkerInfo | None:
        """The worker registry's entry of the ``name`` process's dramatiq worker (the one
        of its group that is listed), once it has booted."""
        members = self.members(name)
        return next((w for w in live_workers(ref) if w.pid in members), None)

    def wait_for_web(self, timeout: float = 90) -> None:
        """Wait until the web process answers ``/healthz`` with 200."""
        deadline = time.monotonic() + timeout
        while True:
            web = self.running["web"]
            if web.poll() is not None:
                raise AssertionError(f"web exited with {web.returncode}:\n{self.log('web')}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.web_url}/healthz", timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"web did not answer in {timeout} s:\n{self.log('web')}")
            time.sleep(0.3)

    def overlap(self, *args: str) -> str:
        """Run the ``overlap`` command line with the processes' environment; its output."""
        result = subprocess.run(
            [str(BIN / "overlap"), *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def sign_in(self, demo_spotify, spotify_id: str) -> requests.Session:
        """A browser signed in as ``spotify_id`` through the web process's OAuth flow (a
        first sign-in asks for the person's sync)."""
        browser = requests.Session()
        login = browser.get(f"{self.web_url}/login", allow_redirects=False, timeout=30)
        query = parse_qs(urlsplit(login.headers["Location"]).query)
        state = query["state"][0]
        code = demo_spotify.code_for(spotify_id, query["redirect_uri"][0], state=state)
        self.oauth_codes.append(code)
        callback = browser.get(
            f"{self.web_url}/callback",
            params={"code": code, "state": state},
            allow_redirects=False,
            timeout=30,
        )
        assert callback.status_code == 303, callback.text
        return browser

    def log(self, name: str, whole: bool = False) -> str:
        """The end of a process's output, for failure messages (or all of it)."""
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text if whole else text[-4000:]

    def stop_all(self) -> None:
        """End every process started, whatever state the test left it in."""
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            # Kill the group: a master's workers must not outlive it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def app_env(base_env, demo_spotify, namespace, tmp_path) -> Iterator[dict[str, str]]:
    """The environment of the app's processes: the test database and Redis under the test's
    own namespace, demo mode against the session's demo Spotify, a free web port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DEMO_"))}
    env.update(base_env)
    env.update(
        OVERLAP_VAR_DIR=str(tmp_path),
        REDIS_NAMESPACE=namespace,
        DEMO_SPOTIFY_PORT=str(demo_spotify.port),
        HOST="127.0.0.1",
        PORT=str(free_port()),
        WORKER_THREADS="4",
        # The fault tests press Refresh again and again to see what an outage does to it;
        # the cooldown between refreshes has tests of its own (tests/web).
        REFRESH_COOLDOWN_SECONDS="0",
        PYTHONUNBUFFERED="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    yield env
    client = redis.Redis.from_url(env["REDIS_URL"])
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def app_processes(app_env, tmp_path) -> Iterator[AppProcesses]:
    """Start the Procfile's processes with ``.start(name)``; all are ended after the test."""
    processes = AppProcesses(app_env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port of 127.0.0.1.

    PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the
    ``postgres`` user (or ``nobody``) and its commands run as that user.
    """

    def __init__(self, bindir: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.user = user
        self.port = free_port()
        # Under /tmp rather than pytest's tmp_path, which only root may enter.
        self.root = Path(tempfile.mkdtemp(prefix="overlap-pg-"))
        if user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"

    @property
    def url(self) -> str:
        """The ``DATABASE_URL`` of the cluster's ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        ids = {}
        if self.user is not None:
            ids = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=120,
            **ids,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{result.stdout}{result.stderr}{self.log()}")

    def init(self) -> PrivatePostgres:
        """Create the cluster (trust authentication on 127.0.0.1 only)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} "
            # Only a crash of the machine would need these, and the cluster dies with the test.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile),
                  "-w", "-t", "60", "-o", options)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: connections are cut, as in a restart)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def log(self) -> str:
        """The end of the server's log."""
        return self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""

    def destroy(self) -> None:
        """Stop the server if it runs, and remove its files."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _postgres_bindir() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian keeps them off the PATH)."""
    found = [Path(p).parent for p in map(shutil.which, ("pg_ctl",)) if p]
    found += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)] or [0],
    )[::-1]
    for bindir in found:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def _cluster_owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL cluster of the test's own, removed after the test."""
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    owner = _cluster_owner()
    if os.geteuid() == 0 and owner is None:
        pytest.skip("running as root with no postgres or nobody user to own the cluster")
    cluster = PrivatePostgres(bindir, owner)
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()
