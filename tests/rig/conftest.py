"""The rig's fixtures: the hosts, and the data host's own PostgreSQL and Redis."""

from __future__ import annotations

import importlib.util
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest


def _load_hosts() -> ModuleType:
    """``hosts.py`` beside this file (the rig's folder is not a package; a scenario's
    child process loads it by path too)."""
    spec = importlib.util.spec_from_file_location("rig_hosts", Path(__file__).with_name("hosts.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rig_hosts"] = module
    spec.loader.exec_module(module)
    return module


rig_hosts = _load_hosts()
Rig, rig, why_not = rig_hosts.Rig, rig_hosts.rig, rig_hosts.why_not

PG_BIN = Path("/usr/lib/postgresql")


@dataclass
class DataHost:
    """The ``data`` host's servers, at its address."""

    address: str
    pg_port: int = 5432
    redis_port: int = 6379

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{self.address}:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.address}:{self.redis_port}/0"


def _pg_bindir() -> Path | None:
    found = sorted(PG_BIN.glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    return next((b for b in found if (b / "initdb").exists()), None)


@pytest.fixture
def make_rig():
    """The ``rig`` context manager, after skipping where it cannot run."""
    if (reason := why_not()) is not None:
        pytest.skip(reason)
    return rig


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> Iterator[Rig]:
    """The five hosts, removed after the module's tests."""
    reason = why_not() or (None if _pg_bindir() else "no PostgreSQL server binaries")
    if reason is None and shutil.which("redis-server") is None:
        reason = "no redis-server"
    if reason is not None:
        pytest.skip(reason)
    with rig() as made:
        yield made


@pytest.fixture(scope="module")
def data_host(hosts: Rig) -> Iterator[DataHost]:
    """PostgreSQL (initdb into a temporary directory, run as ``postgres``) and Redis, both
    on the data host's address."""
    bindir, owner = _pg_bindir(), pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="overlap-rig-"))
    shutil.chown(root, owner.pw_uid, owner.pw_gid)
    as_postgres = ["runuser", "-u", "postgres", "--"]
    data = DataHost(hosts.address["data"])
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(root / "pg"), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (root / "pg" / "pg_hba.conf").write_text("host all all 0.0.0.0/0 trust\nlocal all all trust\n")
    settings = [f"listen_addresses={data.address}", f"unix_socket_directories={root}",
                "fsync=off", "synchronous_commit=off", "full_page_writes=off"]  # fmt: skip
    options = [word for setting in settings for word in ("-c", setting)]
    hosts.run("data", [*as_postgres, str(bindir / "postgres"), "-D", str(root / "pg"), *options],
              root / "postgres.log")  # fmt: skip
    hosts.run("data", ["redis-server", "--bind", data.address, "--port", str(data.redis_port),
                       "--save", "", "--appendonly", "no", "--protected-mode", "no"],
              root / "redis.log")  # fmt: skip
    deadline = time.monotonic() + 60
    while not _answers(hosts, data) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        yield data
    finally:
        hosts.kill_host("data")
        shutil.rmtree(root, ignore_errors=True)


def _answers(hosts: Rig, data: DataHost) -> bool:
    probe = (
        f"import psycopg2, redis; psycopg2.connect({data.database_url!r}).close();"
        f" redis.Redis.from_url({data.redis_url!r}).ping()"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", hosts.namespace("worker-1"), sys.executable, "-c", probe],
        capture_output=True, timeout=30,
    )  # fmt: skip
    return result.returncode == 0
