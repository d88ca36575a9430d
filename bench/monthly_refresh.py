"""The monthly refresh over 1,000,000 artists on PostgreSQL: its time and its memory.

    DATABASE_URL=postgresql://.../bench .venv/bin/python bench/monthly_refresh.py

Bulk-loads artists (``INSERT ... SELECT generate_series``), 90 % of them complete with
this month's listener row, 10 % without one (every tenth id), growing the table to
250,000, 500,000 and 1,000,000 rows. At each size a fresh child process times
``sync.artists.refresh_outdated_artists()``, which sends ``update_artist`` on the bulk
queue (``jobs.queueing.send_many``) to a real Redis under a namespace of its own, deleted
afterwards, and measures its ru_maxrss growth; a second child runs it again under
tracemalloc (which slows it several times, so it is not timed) for the heap's peak. Target at
1,000,000: under 60 s and under 300 MB, and memory flat as the table grows.
Needs ``$DATABASE_URL`` (a database without the app's tables: they are created and
dropped) and ``$REDIS_URL`` (else the embedded Redis).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from cli.embedded_redis import EmbeddedRedis
from models import current_month, database, init_database, migrations

SIZES = (250_000, 500_000, 1_000_000)
TARGET_S, TARGET_MB = 60.0, 300.0


def load(start: int, stop: int, month: str) -> None:
    """Add artists ``start`` < id <= ``stop``; every tenth has no listener row."""
    database.execute_sql(
        "INSERT INTO artist (id, spotify_id, name, url, details_complete, created_at, updated_at)"
        " SELECT g, 'bench' || lpad(g::text, 17, '0'), 'Artist ' || g,"
        " 'https://open.spotify.com/artist/' || g, true, now(), now()"
        " FROM generate_series(%s, %s) g",
        (start + 1, stop),
    )
    database.execute_sql(
        "INSERT INTO artist_listeners (artist_id, month, monthly_listeners, read_at)"
        " SELECT g, %s, g * 7, now() FROM generate_series(%s, %s) g WHERE g %% 10 <> 0",
        (month, start + 1, stop),
    )
    database.execute_sql("ANALYZE artist; ANALYZE artist_listeners")


def child(redis_url: str, traced: bool) -> None:
    """Run one refresh, timed or under tracemalloc; print the figures as JSON."""
    from actors.broker import configure
    from config.settings import Settings
    from sync.artists import refresh_outdated_artists

    namespace = f"bench-refresh-{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": redis_url,
           "REDIS_NAMESPACE": namespace, "SECRET_KEY": "bench-key-0123456789abcdef012345",
           "DEMO_SPOTIFY_PORT": "9"}  # fmt: skip
    settings = Settings.from_env(env, read_dotenv=False)
    init_database(settings.database_url)
    broker = configure(settings)
    database.connect(reuse_if_open=True)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    result = refresh_outdated_artists()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    rss_delta = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    queued = broker.client.llen(f"{namespace}:bulk")  # RedisBroker's queue key
    for key in broker.client.scan_iter(f"{namespace}*"):
        broker.client.delete(key)
    figures = {"outdated": result.outdated, "sent": result.sent, "queued": queued,
               "seconds": elapsed, "heap_mb": peak / 2**20, "rss_mb": rss_delta / 1024}  # fmt: skip
    print(json.dumps(figures))


def run(redis_url: str) -> None:
    """Grow the table size by size, measure each in a fresh process, print, drop."""
    init_database(os.environ["DATABASE_URL"])
    if not migrations.database_is_postgres():
        raise SystemExit("DATABASE_URL must be a PostgreSQL database")
    if migrations.current_version() is not None:
        raise SystemExit("this database has the app's tables already: give the bench its own")
    migrations.upgrade()
    month, loaded, rows = current_month(), 0, []
    try:
        for size in SIZES:
            start = time.perf_counter()
            load(loaded, size, month)
            loaded, load_s = size, time.perf_counter() - start
            timed, traced = (
                json.loads(subprocess.run(
                    [sys.executable, __file__, mode, redis_url],
                    capture_output=True, text=True, check=True,
                ).stdout.strip().splitlines()[-1])
                for mode in ("--timed", "--traced")
            )  # fmt: skip
            rows.append((size, load_s, {**timed, "heap_mb": traced["heap_mb"]}))
    finally:
        migrations.drop_all()
        database.close()
    print(f"{'artists':>10} {'load s':>7} {'outdated':>9} {'sent':>8} {'refresh s':>10}"
          f" {'heap peak MB':>13} {'maxrss +MB':>11}")  # fmt: skip
    for size, load_s, f in rows:
        print(f"{size:>10,} {load_s:>7.1f} {f['outdated']:>9,} {f['sent']:>8,}"
              f" {f['seconds']:>10.1f} {f['heap_mb']:>13.1f} {f['rss_mb']:>11.1f}")  # fmt: skip
    last = rows[-1][2]
    fast = last["seconds"] < TARGET_S and last["sent"] == last["outdated"] == SIZES[-1] // 10
    small = max(last["heap_mb"], last["rss_mb"]) < TARGET_MB
    print(f"1,000,000: {last['seconds']:.1f} s (target < {TARGET_S:g} s) "
          f"{'PASS' if fast else 'MISS'}; memory max(heap {last['heap_mb']:.1f}, "
          f"maxrss +{last['rss_mb']:.1f}) MB (target < {TARGET_MB:g} MB) "
          f"{'PASS' if small else 'MISS'}")  # fmt: skip
    heaps = [f["heap_mb"] for _, _, f in rows]
    print(f"heap peak at 250k / 1M: {heaps[0]:.1f} / {heaps[-1]:.1f} MB "
          f"({'flat' if heaps[-1] < 1.5 * heaps[0] + 5 else 'GROWS'})")  # fmt: skip


def main() -> None:
    """Refuse without PostgreSQL; start Redis when none is given."""
    if len(sys.argv) == 3 and sys.argv[1] in ("--timed", "--traced"):
        child(sys.argv[2], traced=sys.argv[1] == "--traced")
        return
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "bench/monthly_refresh.py needs DATABASE_URL=postgresql://... (PostgreSQL)"
        )
    if url := os.environ.get("REDIS_URL"):
        run(url)
    else:
        with EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-refresh-")), persist=False) as s:
            run(s.url)


if __name__ == "__main__":
    main()
