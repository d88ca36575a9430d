"""The whole app on the rig's hosts, from one command or one fixture.

    .venv/bin/python tests/rig/stack.py up [--delay-ms N] [--log-dir DIR]

brings the hosts up (``hosts.py``), then runs:

- on ``data``: its own PostgreSQL cluster and ``redis-server`` (nothing kept on disk);
- on ``spotify``: the demo Spotify (``overlap demo-spotify``), on the host's address;
- on ``web``: ``overlap db upgrade`` once, then the Procfile's ``web`` and ``scheduler``;
- on ``worker-1`` and ``worker-2``: each the Procfile's ``worker`` and ``worker-bulk``
  (and on ``worker-2`` a standby ``scheduler`` when asked for).

A host may be given a clock that is off (``--skew worker-1=+120s``, or ``Stack.skews``):
the Procfile's lines started on it then run under Debian's libfaketime (the wall clock
only, as on a host whose NTP failed; its monotonic clock runs true), and so do the
commands a test runs there (``Stack.overlap``, ``Stack.command``).

Each app host reaches ``data`` straight, or with ``--delay-ms`` through a delay proxy per
link (``delay_proxy.py``, one for PostgreSQL and one for Redis on the host's loopback).
Each app process runs under a host name of its own (``unshare --uts``), so the dashboard,
the worker list and the scheduler's lease name the host. This machine reaches every host
through the bridge's own address (``.1`` of the rig's /24). Everything stops and every
namespace goes when the command ends, however it ends (Ctrl-C, SIGTERM, an error).

The tests use the same code through the ``stack`` fixture of ``conftest.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
PROXY = HERE / "delay_proxy.py"
# What a skewed host's Python processes load (sitecustomize.py): time.sleep on the real clock.
FAKETIME_SHIM = HERE / "faketime"
APP_HOSTS = ("web", "worker-1", "worker-2")
WORKER_HOSTS = ("worker-1", "worker-2")
DEMO_PORT = 8001
WEB_PORT = 8000
# Where a host's delay proxies listen, on its own loopback.
LOCAL_PG, LOCAL_REDIS = 15432, 16379
SECRET_KEY = "rig-secret-key-of-at-least-32-bytes!"
# Every host must open the tokens the web sealed (base64 of "rig-token-key-of-32-bytes-exact!").
TOKEN_KEY = "cmlnLXRva2VuLWtleS1vZi0zMi1ieXRlcy1leGFjdCE="
PG_BIN = Path("/usr/lib/postgresql")


def sibling(name: str) -> ModuleType:
    """The module ``<name>.py`` beside this file, loaded once per process by path (the
    rig's folder is not a package), as ``rig_<name>``."""
    key = f"rig_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def pg_bindir() -> Path | None:
    """The newest PostgreSQL server binaries (Debian keeps them off the PATH)."""
    found = sorted(PG_BIN.glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    return next((b for b in found if (b / "initdb").exists()), None)


def libfaketime() -> Path | None:
    """Debian's libfaketime (package ``libfaketime``, which ``faketime`` needs), or None."""
    return next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)


def why_not_here() -> str | None:
    """Why the whole stack cannot run here, or None."""
    reason = sibling("hosts").why_not()
    if reason is None and pg_bindir() is None:
        reason = "no PostgreSQL server binaries"
    if reason is None and shutil.which("redis-server") is None:
        reason = "no redis-server"
    if reason is None and shutil.which("unshare") is None:
        reason = "no unshare (util-linux)"
    return reason


@dataclass
class DataHost:
    """The ``data`` host's servers, at its address: PostgreSQL and Redis of its own."""

    rig: Any
    root: Path
    pg_port: int = 5432
    redis_port: int = 6379
    redis: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return str(self.rig.address["data"])

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{self.address}:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.address}:{self.redis_port}/0"

    def start(self) -> DataHost:
        """initdb into ``root`` and start PostgreSQL (as ``postgres``) and Redis."""
        bindir, owner = pg_bindir(), pwd.getpwnam("postgres")
        assert bindir is not None
        shutil.chown(self.root, owner.pw_uid, owner.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*as_postgres, str(bindir / "initdb"), "-D", str(self.root / "pg"), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        hba = "host all all 0.0.0.0/0 trust\nlocal all all trust\n"
        (self.root / "pg" / "pg_hba.conf").write_text(hba)
        settings = [f"listen_addresses={self.address}", f"unix_socket_directories={self.root}",
                    "fsync=off", "synchronous_commit=off", "full_page_writes=off",
                    "max_connections=300"]  # fmt: skip
        options = [word for setting in settings for word in ("-c", setting)]
        server = [*as_postgres, str(bindir / "postgres"), "-D", str(self.root / "pg"), *options]
        self.rig.run("data", server, self.root / "postgres.log")
        self.start_redis()
        deadline = time.monotonic() + 60
        while not self.answers():
            assert time.monotonic() < deadline, "the data host's servers did not answer"
            time.sleep(0.2)
        return self

    def start_redis(self) -> None:
        """Start ``redis-server`` on the data host's address, keeping nothing on disk."""
        argv = ["redis-server", "--bind", self.address, "--port", str(self.redis_port),
                "--save", "", "--appendonly", "no", "--protected-mode", "no"]  # fmt: skip
        self.redis = self.rig.run("data", argv, self.root / "redis.log")

    def stop_redis(self) -> None:
        """SIGKILL ``redis-server``: it comes back empty."""
        assert self.redis is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.redis.pid, signal.SIGKILL)
        self.redis.wait(10)

    def answers(self) -> bool:
        """Whether PostgreSQL and Redis both answer, from a worker host."""
        probe = (
            f"import psycopg2, redis; psycopg2.connect({self.database_url!r}).close();"
            f" redis.Redis.from_url({self.redis_url!r}).ping()"
        )
        result = subprocess.run(
            ["ip", "netns", "exec", self.rig.namespace("worker-1"), sys.executable, "-c", probe],
            capture_output=True, timeout=30,
        )  # fmt: skip
        return result.returncode == 0

    def stop(self) -> None:
        """Stop both servers and remove their files."""
        self.rig.kill_host("data")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def data_host(rig: Any) -> Iterator[DataHost]:
    """The data host's servers for the block, in a temporary directory."""
    data = DataHost(rig, Path(tempfile.mkdtemp(prefix="overlap-rig-")))
    try:
        yield data.start()
    finally:
        data.stop()


class Stack:
    """The app's processes on the rig's hosts, each by ``(host, Procfile name)``."""

    def __init__(
        self, rig: Any, data: DataHost, log_dir: Path, delay_ms: float = 0,
        env: dict[str, str] | None = None, standby_scheduler: bool = False,
        skews: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.rig = rig
        self.data = data
        self.log_dir = log_dir
        self.delay_ms = delay_ms
        self.extra_env = env or {}
        self.standby_scheduler = standby_scheduler
        self.commands = _procfile()
        # Each host's clock offset for faketime (``+120s``), applied to the lines started
        # on it from then on; a host not named runs on the machine's clock.
        self.skews = dict(skews or {})
        self.running: dict[tuple[str, str], subprocess.Popen[bytes]] = {}

    @property
    def web_url(self) -> str:
        """The web process, as this machine reaches it."""
        return f"http://{self.rig.address['web']}:{WEB_PORT}"

    @property
    def spotify_url(self) -> str:
        """The demo Spotify, as every host reaches it."""
        return f"http://{self.rig.address['spotify']}:{DEMO_PORT}"

    def env_for(self, host: str) -> dict[str, str]:
        """The environment of the app's processes on ``host``."""
        if self.delay_ms:
            pg, redis = f"127.0.0.1:{LOCAL_PG}", f"127.0.0.1:{LOCAL_REDIS}"
        else:
            pg = f"{self.data.address}:{self.data.pg_port}"
            redis = f"{self.data.address}:{self.data.redis_port}"
        keep = ("PATH", "LANG", "LC_ALL", "HOME", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
            OVERLAP_VAR_DIR=str(self.log_dir / f"var-{host}"),
            DATABASE_URL=f"postgresql://postgres@{pg}/postgres",
            REDIS_URL=f"redis://{redis}/0",
            SECRET_KEY=SECRET_KEY,
            TOKEN_KEY=TOKEN_KEY,
            DEMO_SPOTIFY_PORT=str(DEMO_PORT),
            SPOTIFY_API_URL=f"{self.spotify_url}/v1",
            SPOTIFY_ACCOUNTS_URL=f"{self.spotify_url}/accounts",
            SPOTIFY_OPEN_URL=f"{self.spotify_url}/open",
            HOST=self.rig.address[host],
            PORT=str(WEB_PORT),
        )
        env.update(self.extra_env)
        return env

    def run(self, host: str, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host`` under the host's name, its output in
        ``<host>.<name>.log``."""
        named = ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *argv]
        process = self.rig.run(host, named, self.log_dir / f"{host}.{name}.log",
                               env=self.env_for(host))  # fmt: skip
        self.running[(host, name)] = process
        return process

    def start_line(self, host: str, name: str) -> subprocess.Popen[bytes]:
        """Start the Procfile's ``name`` line on ``host``, as a process manager does (under
        ``faketime`` when the host's clock is skewed)."""
        command = " ".join([*self.faked_clock(host), self.commands[name]])
        return self.run(host, name, ["/bin/sh", "-c", f"cd {ROOT} && exec {command}"])

    def faked_clock(self, host: str) -> list[str]:
        """``env`` and the settings that put a command on ``host``'s skewed clock (none
        when the host's clock is right). The library, not the faketime command: that one
        forks the command and waits, so a SIGTERM to it (a deploy's) would leave the app's
        process running."""
        if (skew := self.skews.get(host)) is None:
            return []
        return ["env", f"LD_PRELOAD={libfaketime()}", f"FAKETIME={skew}",
                "FAKETIME_DONT_FAKE_MONOTONIC=1", f"PYTHONPATH={FAKETIME_SHIM}"]  # fmt: skip

    def terminate(self, host: str, name: str) -> None:
        """SIGTERM to ``name``'s main process on ``host``, as a deploy does, and wait for it
        (its own workers hear it from their master)."""
        process = self.running[(host, name)]
        process.send_signal(signal.SIGTERM)
        process.wait(60)

    def kill(self, host: str, name: str) -> None:
        """SIGKILL ``name`` on ``host`` and every process it started."""
        process = self.running[(host, name)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def start(self) -> Stack:
        """Start every process, the migrations first, and wait until all answer."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for host in APP_HOSTS if self.delay_ms else ():
            for port, target in (
                (LOCAL_PG, self.data.pg_port),
                (LOCAL_REDIS, self.data.redis_port),
            ):
                argv = [sys.executable, str(PROXY), f"127.0.0.1:{port}",
                        f"{self.data.address}:{target}", str(self.delay_ms)]  # fmt: skip
                self.run(host, f"proxy-{port}", argv)
        migrate = self.run(
            "web", "release", ["/bin/sh", "-c", f"cd {ROOT} && exec overlap db upgrade"]
        )
        assert migrate.wait(180) == 0, self.log("web", "release")
        demo = [str(BIN / "overlap"), "demo-spotify", "--host", self.rig.address["spotify"]]
        self.run("spotify", "demo-spotify", demo)
        for name in ("web", "scheduler"):
            self.start_line("web", name)
        for host in WORKER_HOSTS:
            self.start_line(host, "worker")
            self.start_line(host, "worker-bulk")
        if self.standby_scheduler:
            self.start_line("worker-2", "scheduler")
        self.wait_until_ready()
        return self

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Until the web and the demo answer, all four workers list themselves and a
        scheduler holds the lease."""
        deadline = time.monotonic() + timeout
        checks = {
            "the web's /healthz": lambda: _answers(f"{self.web_url}/healthz"),
            "the demo Spotify": lambda: _answers(f"{self.spotify_url}/_demo/config"),
            "four workers listed and a scheduler's lease": self._workers_and_lease,
        }
        for what, check in checks.items():
            while not check():
                for (host, name), process in self.running.items():
                    code = process.poll()
                    assert code is None or name == "release", (
                        host,
                        name,
                        code,
                        self.log(host, name),
                    )
                assert time.monotonic() < deadline, f"{what} not ready:\n{self.logs_tail()}"
                time.sleep(0.5)

    def _workers_and_lease(self) -> bool:
        from actors.scheduler_lease import scheduler_status
        from ops.workers import live_workers

        ref = self.redis_ref()
        try:
            hosts = [w.host for w in live_workers(ref)]
            return sorted(hosts) == sorted(WORKER_HOSTS * 2) and bool(
                scheduler_status(ref)["holder"]
            )
        finally:
            ref.client.close()

    def redis_ref(self) -> Any:
        """A Redis reference to the data host's Redis, in the app's namespace, from here."""
        import redis

        from config.redis_ref import RedisRef

        namespace = self.extra_env.get("REDIS_NAMESPACE", "overlap")
        return RedisRef(redis.Redis.from_url(self.data.redis_url), namespace)

    def overlap(self, *args: str, host: str = "web") -> str:
        """Run the ``overlap`` command on ``host``; its output (it must succeed)."""
        return self.command(host, [str(BIN / "overlap"), *args])

    def command(self, host: str, argv: list[str]) -> str:
        """Run ``argv`` on ``host`` with the app's environment there (on the host's clock,
        skewed or not), as an operator's shell would; its output (it must succeed)."""
        argv = ["ip", "netns", "exec", self.rig.namespace(host), *self.faked_clock(host), *argv]
        result = subprocess.run(argv, cwd=ROOT, env=self.env_for(host), capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def log(self, host: str, name: str, whole: bool = False) -> str:
        """A process's output (its end, for failure messages)."""
        path = self.log_dir / f"{host}.{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text if whole else text[-3000:]

    def logs_tail(self) -> str:
        """The end of every process's output."""
        return "\n".join(f"--- {h}.{n}\n{self.log(h, n)[-1500:]}" for h, n in self.running)

    def stop(self) -> None:
        """SIGTERM every process, then SIGKILL each one's group."""
        for process in self.running.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _procfile() -> dict[str, str]:
    from honcho.environ import parse_procfile

    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def _answers(url: str) -> bool:
    import requests

    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=5).status_code == 200
    return False


@contextlib.contextmanager
def whole_stack(
    log_dir: Path, delay_ms: float = 0, env: dict[str, str] | None = None,
    standby_scheduler: bool = False, rig: Any = None, skews: dict[str, str] | None = None,
) -> Iterator[Stack]:  # fmt: skip
    """The hosts (or ``rig``'s), the data host's servers and the app, for the block."""
    hosts = sibling("hosts")
    with contextlib.ExitStack() as stack:
        made = rig if rig is not None else stack.enter_context(hosts.rig())
        made.reach_from_here()
        data = stack.enter_context(data_host(made))
        app = Stack(made, data, log_dir, delay_ms, env, standby_scheduler, skews)
        stack.callback(app.stop)
        yield app.start()


def main(argv: list[str] | None = None) -> int:
    """``stack.py up``: the whole rig until Ctrl-C (or SIGTERM)."""
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--delay-ms", type=float, default=0, help="one-way delay to data")
    parser.add_argument("--log-dir", type=Path, default=None, help="where the logs go")
    parser.add_argument("--standby-scheduler", action="store_true", help="one on worker-2 too")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every app process (again for more)")  # fmt: skip
    parser.add_argument("--skew", action="append", default=[], metavar="HOST=OFFSET",
                        help="a host's clock off by faketime's OFFSET (+120s)")  # fmt: skip
    args = parser.parse_args(argv)
    if (reason := why_not_here()) is not None:
        print(f"stack.py: cannot run here: {reason}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="overlap-stack-"))
    env = dict(item.split("=", 1) for item in args.env)
    skews = dict(item.split("=", 1) for item in args.skew)
    try:
        with whole_stack(log_dir, args.delay_ms, env, args.standby_scheduler, skews=skews) as app:
            print(f"overlap on the rig {app.rig.name}: web {app.web_url}, demo Spotify "
                  f"{app.spotify_url}, data {app.data.address} (PostgreSQL {app.data.pg_port}, "
                  f"Redis {app.data.redis_port}), delay {args.delay_ms:g} ms; logs in {log_dir}. "
                  "Ctrl-C ends it.", flush=True)  # fmt: skip
            for host in app.rig.hosts:
                print(f"  {host:<9} {app.rig.address[host]:<15} ip netns exec "
                      f"{app.rig.namespace(host)} …", flush=True)  # fmt: skip
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stack.py: stopped; every process, namespace and link is gone", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
