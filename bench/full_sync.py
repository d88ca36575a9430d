"""Full sync of the demo's heavy user ``ana``, listener counts included, from an empty database.

    .venv/bin/python bench/full_sync.py

Two real worker processes (``dramatiq actors.app --processes 1 --threads 8 --queues
interactive artists``) against the demo Spotify at 20 ms latency, limited to 3,000
requests per rolling 30 s for the API and the same for the artist pages; the app's gate
runs at R = 100/s for each. Measured: the wall time from ``sync_if_needed`` until the job
succeeded and every artist linked to ana has this month's listener row.

Lower bound: the API and the pages have separate limits (in the demo and in the gate), so
the sync cannot end before the slowest of: the followed-artist cursor pages read one after
the other (pages x latency), all API requests at R/s, all page requests at R/s.
Target: wall / bound <= 1.25. Uses ``$DATABASE_URL`` (else a temp SQLite file) and
``$REDIS_URL`` (else the embedded Redis).
"""

from __future__ import annotations

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
from models import (
    ArtistListeners,
    JobRun,
    UserArtist,
    current_month,
    database,
)
from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify, running_demo
from sync.users import sync_if_needed

ROOT = Path(__file__).resolve().parents[1]
LATENCY_MS, LIMIT, WINDOW_S, RATE = 20, 3000, 30, 100.0
WORKERS, THREADS, TARGET = 2, 8, 1.25


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """One ``dramatiq actors.app`` process on the people's and the artists' queues."""
    command = [
        str(Path(sys.executable).parent / "dramatiq"), "actors.app",
        "--processes", "1", "--threads", str(THREADS), "--queues", "interactive", "artists",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


def missing_listeners(user_id: int, month: str) -> int:
    """How many artists linked to the user have no listener row for ``month``."""
    linked = UserArtist.select(UserArtist.artist).where(UserArtist.user == user_id).distinct()
    done = ArtistListeners.select(ArtistListeners.artist).where(
        (ArtistListeners.month == month) & ArtistListeners.artist.in_(linked)
    )
    return linked.count() - done.count()


def run(demo: DemoSpotify, database_url: str, redis_url: str, var_dir: Path) -> None:
    """Sync ana through two worker processes and print the figures."""
    env = bench_env(
        "bench-sync", database_url, redis_url,
        DEMO_SPOTIFY_PORT=str(demo.port), OVERLAP_VAR_DIR=str(var_dir),
        SPOTIFY_API_RATE=str(RATE), SPOTIFY_PAGES_RATE=str(RATE),
    )  # fmt: skip
    namespace = env["REDIS_NAMESPACE"]
    settings = bench_settings(env)
    fresh_schema(settings)
    broker = configure(settings)
    runtime.configure(settings)
    from actors import artists, users  # noqa: F401  (declares the actors)

    user = sign_in_demo_user(demo, "ana")
    worker_env = {**os.environ, **env}
    worker_env.pop("SPOTIFY_CLIENT_ID", None)
    log = var_dir / "workers.log"
    workers = [start_worker(worker_env, log) for _ in range(WORKERS)]
    try:
        time.sleep(3)  # let the workers import and connect
        demo.reset()
        month = current_month()
        start = time.monotonic()
        job = sync_if_needed(runtime.context(), user, force=True)
        assert job is not None
        synced_at = None
        while True:
            time.sleep(0.25)
            row = JobRun.get_by_id(job.id)
            if row.status == "failed":
                raise SystemExit(f"the sync failed: {row.error}")
            if row.status == "succeeded":
                synced_at = synced_at or time.monotonic() - start
                if missing_listeners(user.id, month) == 0:
                    break
        wall = time.monotonic() - start
        stats = demo.stats()
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
        for key in broker.client.scan_iter(f"{namespace}*"):
            broker.client.delete(key)
        broker.close()
        database.close()
    api, pages = stats["requests"]["api"], stats["requests"]["open"]
    cursor = stats["routes"].get("GET /v1/me/following", 0)
    bounds = {"cursor": cursor * LATENCY_MS / 1000, "api": api / RATE, "pages": pages / RATE}
    bound = max(bounds.values())
    ratio = wall / bound
    linked = UserArtist.select().where(UserArtist.user == user.id).count()
    print(f"database {database_url.split(':')[0]}, {WORKERS} workers x {THREADS} threads, "
          f"R = {RATE:g}/s API and pages, demo {LATENCY_MS} ms, {LIMIT}/{WINDOW_S} s")  # fmt: skip
    print(
        f"links {linked}; job succeeded after {synced_at:.1f} s, listeners done after {wall:.1f} s"
    )
    print(
        f"requests: API {api}, pages {pages}, 429s {stats['rate_limited']}, cursor pages {cursor}"
    )
    print("bound = max(cursor pages x latency, API requests / R, page requests / R)")
    print(
        "      = max("
        + ", ".join(f"{k} {v:.1f} s" for k, v in bounds.items())
        + f") = {bound:.1f} s"
    )
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"wall {wall:.1f} s / bound {bound:.1f} s = {ratio:.2f} (target <= {TARGET}) {verdict}")


def main() -> None:
    """Start the demo, the database and Redis, run, clean up."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    config = DemoConfig(
        latency_ms=LATENCY_MS, rate_limit=LIMIT, rate_window_s=WINDOW_S, pages_rate_limit=LIMIT
    )
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'bench.db'}"
    with running_demo(config) as demo:
        if url := os.environ.get("REDIS_URL"):
            run(demo, database_url, url, var_dir)
        else:
            with EmbeddedRedis(var_dir / "redis", persist=False) as server:
                run(demo, database_url, server.url, var_dir)
    subprocess.run(["rm", "-rf", str(var_dir)], check=False)


if __name__ == "__main__":
    main()
