"""The rig's fixtures: the hosts, and the data host's own PostgreSQL and Redis."""

from __future__ import annotations

import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hosts import Rig, rig, why_not  # noqa: E402  (the rig's folder is not a package)

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
