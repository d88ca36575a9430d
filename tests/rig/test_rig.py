"""The rig itself: hosts that reach the data host over the bridge, a link whose distance
the delay proxy sets, and nothing left behind once the rig is gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from actors.testing import wait_for

pytestmark = pytest.mark.slow
PROXY = Path(__file__).with_name("delay_proxy.py")
# One round trip each to PostgreSQL and Redis, from the host it runs on; their seconds.
TIMED = """
import json, sys, time, psycopg2, redis
db = psycopg2.connect(sys.argv[1]); cursor = db.cursor(); r = redis.Redis.from_url(sys.argv[2])
r.ping(); cursor.execute("SELECT 1")
def best(f):
    out = []
    for _ in range(5):
        start = time.perf_counter(); f(); out.append(time.perf_counter() - start)
    return min(out)
print(json.dumps({"pg": best(lambda: cursor.execute("SELECT 1")), "redis": best(r.ping)}))
"""


def timed_round_trips(hosts, host: str, database_url: str, redis_url: str) -> dict[str, float]:
    result = subprocess.run(
        ["ip", "netns", "exec", hosts.namespace(host), sys.executable, "-c", TIMED,
         database_url, redis_url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_a_worker_host_reaches_the_data_host_and_the_proxy_sets_the_distance(
    hosts, data_host, tmp_path
):
    direct = timed_round_trips(hosts, "worker-1", data_host.database_url, data_host.redis_url)

    # With 20 ms each way on both links, in forwarders on the worker host:
    for port, target in ((15432, data_host.pg_port), (16379, data_host.redis_port)):
        forward = [f"127.0.0.1:{port}", f"{data_host.address}:{target}", "20"]
        hosts.run("worker-1", [sys.executable, str(PROXY), *forward], tmp_path / "proxy.log")
    far = timed_round_trips(
        hosts, "worker-1",
        "postgresql://postgres@127.0.0.1:15432/postgres?connect_timeout=10",
        "redis://127.0.0.1:16379/0",
    )  # fmt: skip

    assert direct["pg"] < 0.02 and direct["redis"] < 0.02, direct
    assert 0.040 <= far["pg"] < 0.080 and 0.040 <= far["redis"] < 0.080, far


def test_the_rig_leaves_no_namespace_link_or_process_behind(make_rig, tmp_path):
    with make_rig(("data", "worker-1")) as made:
        sleeper = made.run("worker-1", ["sleep", "600"], tmp_path / "sleep.log")
        # A wrapper that exits and leaves its child running (as ``faketime`` does when a
        # SIGTERM kills it alone): the child goes too.
        orphan = tmp_path / "orphan.pid"
        made.run("worker-1", ["sh", "-c", f"sleep 600 & echo $! > {orphan}"], tmp_path / "o.log")
        wait_for(lambda: orphan.exists() and orphan.read_text().strip(), 10, "the orphan")
        assert len(made.leftovers()) == 5  # 2 namespaces, 2 veths, the bridge
    assert made.leftovers() == []
    assert sleeper.poll() is not None
    # (killed, it may stay a zombie for a moment, until its new parent reaps it)
    stat = Path(f"/proc/{orphan.read_text().strip()}/stat")
    wait_for(lambda: not stat.exists() or stat.read_text().split(") ")[1][0] == "Z", 10, "it")


def test_the_rig_is_removed_when_its_block_fails(make_rig):
    with pytest.raises(RuntimeError), make_rig(("data",)) as made:
        raise RuntimeError("a scenario failed")
    assert made.leftovers() == []


def test_the_rig_is_removed_when_its_process_is_told_to_stop(make_rig):
    # Given a process that made a rig and waits in it:
    folder = str(Path(__file__).parent)
    script = (
        f"import sys, time; sys.path.insert(0, {folder!r})\n"
        "from hosts import rig\n"
        "with rig(('data',)) as made:\n"
        "    print(made.name, flush=True); time.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    name = process.stdout.readline().strip()
    assert name, "the rig did not start"
    assert name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout

    # When it is told to stop (SIGTERM, as CI's timeout or a process manager does):
    process.terminate()
    process.wait(60)

    # Then its namespaces and links are gone.
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert name not in listed and name not in links
