"""Two fresh people compare: how long after both syncs end is their comparison complete?

    .venv/bin/python bench/shared_first.py [--scale 0.2] [--rate 20]

The demo's ``ana`` and ``ben`` at ``--scale`` (0.2: 1,327 and 407 artists, 216 shared)
sign in, and both syncs are asked for at once, as the comparison page does, from an empty
database. Two real worker processes (the Procfile's ``worker`` queues, 8 threads each) run
them against the demo Spotify at 20 ms latency; the artist pages go through the app's gate
at R = ``--rate`` per second for all workers together (the API at 100/s). While it runs,
the "page" polls every 2 s the way ``web.routes.compare`` does: with the shared
first send (``jobs.shared_first.send_shared_first``), or without it, as before. Each mode
starts afresh (database, Redis namespace, workers); they run one after the other.

Figure: the seconds from the end of the later sync to the comparison being complete (no
shared artist without this month's count). Target, shared first: <= 1.3 x S / R.
Uses ``$DATABASE_URL`` (its app tables are dropped and re-created: give it a database of
its own) or a temp SQLite file, and ``$REDIS_URL`` or the embedded Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_setup import bench_env, bench_settings, fresh_schema, sign_in_demo_user

from actors import runtime
from actors.broker import configure
from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from jobs.shared_first import pending_shared_ids, send_shared_first
from models import JobRun, UserArtist, current_month, database
from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify, running_demo
from sync.users import sync_if_needed

ROOT = Path(__file__).resolve().parents[1]
LATENCY_MS, API_RATE, WORKERS, THREADS, POLL_S, TARGET = 20, 100.0, 2, 8, 2.0, 1.3
QUEUES = ("shared", "interactive", "artists")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """One ``dramatiq actors.app`` process on the Procfile worker's queues (bar periodic)."""
    command = [
        str(Path(sys.executable).parent / "dramatiq"), "actors.app",
        "--processes", "1", "--threads", str(THREADS), "--queues", *QUEUES,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


def one_mode(
    demo: DemoSpotify, database_url: str, redis_url: str, var_dir: Path, rate: float, first: bool
) -> dict[str, float]:
    """Run both syncs and poll until complete; the figures of this mode."""
    env = bench_env(
        "bench-shared", database_url, redis_url,
        DEMO_SPOTIFY_PORT=str(demo.port), OVERLAP_VAR_DIR=str(var_dir),
        SPOTIFY_API_RATE=str(API_RATE), SPOTIFY_PAGES_RATE=str(rate),
    )  # fmt: skip
    namespace = env["REDIS_NAMESPACE"]
    settings = bench_settings(env)
    fresh_schema(settings)
    broker = configure(settings)
    runtime.configure(settings)
    from actors import artists, users  # noqa: F401  (declares the actors)

    ana, ben = sign_in_demo_user(demo, "ana"), sign_in_demo_user(demo, "ben")
    worker_env = {**os.environ, **env}
    worker_env.pop("SPOTIFY_CLIENT_ID", None)
    workers = [start_worker(worker_env, var_dir / "workers.log") for _ in range(WORKERS)]
    ref, month = RedisRef.of(broker), current_month()
    try:
        time.sleep(3)  # let the workers import and connect
        demo.reset()
        start = time.monotonic()
        jobs = [sync_if_needed(runtime.context(), user, force=True) for user in (ana, ben)]
        synced_at = None
        sent = 0
        while True:
            if first:
                sent += send_shared_first(ref, ana.id, ben.id, month)
            rows = [JobRun.get_by_id(job.id) for job in jobs]
            if any(row.status == "failed" for row in rows):
                raise SystemExit(f"a sync failed: {[row.error for row in rows]}")
            if synced_at is None and all(row.status == "succeeded" for row in rows):
                synced_at = time.monotonic()
            if synced_at is not None and not pending_shared_ids(ana.id, ben.id, month):
                complete_at = time.monotonic()
                break
            # The page's poll interval; the check above is finer, so the figure is not
            # rounded up to the next poll.
            deadline = time.monotonic() + POLL_S
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if synced_at is not None and not pending_shared_ids(ana.id, ben.id, month):
                    break
        stats = demo.stats()
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
        for key in broker.client.scan_iter(f"{namespace}*"):
            broker.client.delete(key)
        broker.close()
    links = UserArtist.select(UserArtist.artist).where(UserArtist.user.in_([ana.id, ben.id]))
    mine = {a for (a,) in links.where(UserArtist.user == ana.id).tuples()}
    theirs = {a for (a,) in links.where(UserArtist.user == ben.id).tuples()}
    database.close()
    return {
        "ana": len(mine), "ben": len(theirs), "shared": len(mine & theirs),
        "union": len(mine | theirs), "sync_s": synced_at - start,
        "after_s": complete_at - synced_at, "pages": stats["requests"]["open"],
        "api": stats["requests"]["api"], "429s": stats["rate_limited"], "sent": sent,
    }  # fmt: skip


def main() -> None:
    """Start the demo, the database and Redis, run both modes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=20.0)
    options = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    config = DemoConfig(latency_ms=LATENCY_MS, scale=options.scale)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'bench.db'}"
    results = {}
    with running_demo(config) as demo, EmbeddedRedis(var_dir / "redis", persist=False) as server:
        redis_url = os.environ.get("REDIS_URL") or server.url
        for first in (True, False):
            results[first] = one_mode(demo, database_url, redis_url, var_dir, options.rate, first)
    subprocess.run(["rm", "-rf", str(var_dir)], check=False)
    rate = options.rate
    r = results[True]
    print(f"database {database_url.split(':')[0]}, {WORKERS} workers x {THREADS} threads, "
          f"pages R = {rate:g}/s, API {API_RATE:g}/s, demo {LATENCY_MS} ms, "
          f"scale {options.scale:g}")  # fmt: skip
    print(f"ana {r['ana']} artists, ben {r['ben']}, shared S = {r['shared']}, "
          f"union {r['union']}; S / R = {r['shared'] / rate:.1f} s, union / R = "
          f"{r['union'] / rate:.1f} s")  # fmt: skip
    for first, r in results.items():
        name = "shared first" if first else "before (no shared send)"
        print(f"{name:<24} syncs end {r['sync_s']:5.1f} s, complete {r['after_s']:5.1f} s "
              f"after = {r['after_s'] * rate / r['shared']:.2f} x S / R; page requests "
              f"{r['pages']}, API {r['api']}, 429s {r['429s']}, "
              f"shared sent {r['sent']}")  # fmt: skip
    ratio = results[True]["after_s"] * rate / results[True]["shared"]
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(
        f"shared first: {ratio:.2f} x S / R (target <= {TARGET}) {verdict}; "
        f"before / shared first = {results[False]['after_s'] / results[True]['after_s']:.1f}"
    )


if __name__ == "__main__":
    main()
