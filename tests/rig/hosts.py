"""Hosts on this machine: Linux network namespaces joined by veth pairs on one bridge.

``Rig`` makes one namespace per host (``data``, ``web``, ``worker-1``, ``worker-2``,
``spotify``), each with its loopback and one address on a /24 of the rig's own
(``10.231.<n>.0/24``, ``n`` from the process id so two rigs never meet), and removes every
namespace, link and process it made when its block ends, however it ends: an exception,
Ctrl-C, or SIGTERM (turned into an exception while the rig runs). A rig that was killed
outright is swept by the next one (its names carry the dead process's id).

Processes run in a host with ``Rig.run(host, argv)``, in a session of their own, so a
host's death (``Rig.kill_host``) is one SIGKILL per process group.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

HOSTS = ("data", "web", "worker-1", "worker-2", "spotify")
PREFIX = "ovl"
_made = itertools.count()


def why_not() -> str | None:
    """Why the rig cannot run here, or None."""
    if os.geteuid() != 0:
        return "the rig needs root to make network namespaces"
    if shutil.which("ip") is None:
        return "the rig needs iproute2's ip"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


class Rig:
    """The hosts, their addresses, and what runs on them."""

    def __init__(self, hosts: tuple[str, ...] = HOSTS) -> None:
        self.pid = os.getpid()
        # The process id and a count: two rigs of one process never share a name.
        seq = next(_made) % 10
        self.name = f"{self.pid}x{seq}"
        self.subnet = f"10.231.{(self.pid * 10 + seq) % 200 + 20}"
        self.bridge = f"{PREFIX}b{self.name}"
        self.hosts = hosts
        self.address = {host: f"{self.subnet}.{i + 2}" for i, host in enumerate(hosts)}
        self.processes: list[subprocess.Popen[bytes]] = []
        self._host_of: dict[int, str] = {}

    def namespace(self, host: str) -> str:
        """The network namespace of ``host``."""
        return f"{PREFIX}{self.name}-{host}"

    def _veth(self, host: str) -> str:
        return f"{PREFIX}{self.name}v{self.hosts.index(host)}"

    def up(self) -> None:
        """Make the bridge, and each host's namespace and link onto it."""
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts:
            ns, veth = self.namespace(host), self._veth(host)
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{self.address[host]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def run(
        self, host: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host`` (as root; wrap it in ``runuser`` to drop that)."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace(host), *argv],
                env=env, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        self._host_of[process.pid] = host
        return process

    def reach_from_here(self) -> None:
        """Give the bridge the rig's ``.1``, so this machine reaches every host (the rig's
        own address: nothing else on the machine is touched; it goes with the bridge)."""
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)

    def kill_host(self, host: str) -> None:
        """SIGKILL every process started on ``host``, as if the machine died: each group,
        including one whose first process is gone but left others running (a wrapper
        that forks and waits, such as the ``faketime`` command, killed alone)."""
        for process in self.processes:
            if self._host_of[process.pid] != host:
                continue
            if process.poll() is None or self._group_left_on(host, process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def _group_left_on(self, host: str, pgid: int) -> bool:
        """Whether process group ``pgid`` has a process in ``host``'s namespace. (A group
        keeps its leader's pid from reuse while it has members; the namespace check
        makes sure the group is still this rig's.)"""
        with contextlib.suppress(OSError):
            namespace = os.stat(f"/run/netns/{self.namespace(host)}").st_ino
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                        continue
                    if os.stat(stat.parent / "ns" / "net").st_ino == namespace:
                        return True
        return False

    def link(self, host: str, up: bool) -> None:
        """Cut ``host`` off the bridge, or join it again."""
        _ip("link", "set", self._veth(host), "up" if up else "down")

    def down(self) -> None:
        """Stop every process and remove every namespace and link this rig made."""
        for host in self.hosts:
            self.kill_host(host)
        for host in self.hosts:
            _ip("netns", "del", self.namespace(host), check=False)
            _ip("link", "del", self._veth(host), check=False)
        _ip("link", "del", self.bridge, check=False)

    def leftovers(self) -> list[str]:
        """The namespaces and links of this rig still on the machine."""
        mine = f"{self.name}"
        found = _ip("netns", "list").stdout.split() + _ip("-o", "link").stdout.split()
        return sorted({name.rstrip(":").split("@")[0] for name in found if mine in name})


def sweep_dead_rigs() -> None:
    """Remove the namespaces and links of rigs whose process is gone."""
    names = _ip("netns", "list").stdout.split() + [
        line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link").stdout.splitlines()
    ]
    for name in names:
        match = re.match(rf"{PREFIX}b?(\d+)x", name)
        if match is None or Path(f"/proc/{match.group(1)}").exists():
            continue
        if "-" in name:
            _ip("netns", "del", name, check=False)
        else:
            _ip("link", "del", name, check=False)


@contextlib.contextmanager
def rig(hosts: tuple[str, ...] = HOSTS) -> Iterator[Rig]:
    """A rig for the block, removed however the block ends (SIGTERM included)."""
    sweep_dead_rigs()
    made = Rig(hosts)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        made.up()
        yield made
    finally:
        made.down()
        signal.signal(signal.SIGTERM, previous)
