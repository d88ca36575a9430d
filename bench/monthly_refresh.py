"""The monthly refresh on PostgreSQL: Redis's peak memory in slices against all at once,
and the time of the pass's scan.

    DATABASE_URL=postgresql://.../bench .venv/bin/python bench/monthly_refresh.py
    ... bench/monthly_refresh.py --ten-million      # also 10,000,000 artists (not in CI)

1. Redis memory. Bulk-loads 10,000 artists without this month's count
   (``INSERT ... SELECT generate_series``), then grows the table to 1,000,000, all
   outdated. At each size it runs the first ``SLICES`` slices of the sliced refresh
   (``sync.refresh_slices``, at the default page rate of 10/s: 1,200 messages a slice)
   against a consumer thread that takes each message and finishes it at once, while a
   sampler reads Redis's ``INFO memory`` ``used_memory`` every 2 ms; the figure is the peak
   above what Redis used before. Side by side, the design before slices
   (``refresh_outdated_artists``: every outdated artist sent at once, chunk by chunk)
   runs against the same consumer at 10,000 and 100,000 artists. Target: the sliced peak
   at 1,000,000 within 2x that at 10,000.
2. The scan. With 90 % of the 1,000,000 given this month's count, it times a whole pass's
   scan (``scan()`` with no budget, window after window, as the slices walk it together)
   and the old keyset walk (``Artist.iter_outdated``) beside it. Target: under 10 s.
   With ``--ten-million``, the same at 10,000,000 (target under 100 s, memory flat).

Needs ``$DATABASE_URL`` (a database without the app's tables: they are created and
dropped) and ``$REDIS_URL`` (else the embedded Redis). Every figure is printed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import dramatiq
import redis

from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from jobs import queueing
from models import Artist, current_month, database, init_database, migrations

SLICES = 5
PAGES_RATE = 10.0
SCAN_TARGET_S = {1_000_000: 10.0, 10_000_000: 100.0}


def load(start: int, stop: int) -> None:
    """Add artists ``start`` < id <= ``stop``, complete, with no listener row."""
    database.execute_sql(
        "INSERT INTO artist (id, spotify_id, name, url, details_complete, created_at, updated_at)"
        " SELECT g, 'bench' || lpad(g::text, 17, '0'), 'Artist ' || g,"
        " 'https://open.spotify.com/artist/' || g, true, now(), now()"
        " FROM generate_series(%s, %s) g",
        (start + 1, stop),
    )
    database.execute_sql("ANALYZE artist")


def count_this_month(stop: int, month: str) -> None:
    """Give nine artists in ten this month's count (every tenth stays outdated)."""
    database.execute_sql("DELETE FROM artist_listeners")
    database.execute_sql(
        "INSERT INTO artist_listeners (artist_id, month, monthly_listeners, read_at)"
        " SELECT g, %s, g * 7, now() FROM generate_series(1, %s) g WHERE g %% 10 <> 0",
        (month, stop),
    )
    database.execute_sql("ANALYZE artist_listeners")


class Consumer(threading.Thread):
    """Takes the bulk queue's messages and finishes each at once, until stopped."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        super().__init__(daemon=True)
        self.broker, self.done, self.stopping = broker, 0, threading.Event()

    def run(self) -> None:
        consumer = self.broker.consume(queueing.BULK_QUEUE, prefetch=500, timeout=20)
        while not self.stopping.is_set():
            message = next(consumer)
            if message is not None:
                consumer.ack(message)
                self.done += 1
        consumer.close()


class Sampler(threading.Thread):
    """Reads ``used_memory`` every 2 ms; ``peak`` is the highest above the first."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client, self.stopping = client, threading.Event()
        self.base = self.peak = self.used()

    def used(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = max(self.peak, self.used())
            time.sleep(0.002)


def peak_memory(broker: dramatiq.Broker, work: Callable[[], int]) -> tuple[int, int, float]:
    """Run ``work`` (returns how many it sent) against the consumer until the queue is
    empty; returns the messages sent, the peak of Redis above its start, and seconds."""
    consumer, sampler = Consumer(broker), Sampler(broker.client)  # type: ignore[attr-defined]
    sampler.start()
    consumer.start()
    start = time.perf_counter()
    sent = work()
    while consumer.done < sent:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    for thread in (consumer, sampler):
        thread.stopping.set()
        thread.join()
    return sent, sampler.peak - sampler.base, elapsed


def sliced(ref: RedisRef) -> Callable[[], int]:
    """The first ``SLICES`` slices, each after the consumer emptied the queue."""
    from sync.refresh_slices import RefreshPass

    def work() -> int:
        refresh, sent = RefreshPass(ref), 0
        for _ in range(SLICES):
            while refresh.queued():
                time.sleep(0.005)
            sent += refresh.send_slice(PAGES_RATE).sent
        return sent

    return work


def all_at_once() -> int:
    """The refresh before slices: every outdated artist sent, 1,000 per pipeline."""
    from sync.artists import refresh_outdated_artists

    return refresh_outdated_artists().sent


def scan_times(month: str) -> tuple[float, float, int]:
    """Seconds of a whole pass's scan, of the old keyset walk, and the outdated found."""
    from sync.refresh_slices import scan

    start = time.perf_counter()
    found, _, _ = scan(month, 0, float("inf"), float("inf"))
    sliced_s = time.perf_counter() - start
    start = time.perf_counter()
    old = sum(len(page) for page in Artist.iter_outdated(month))
    assert old == len(found), (old, len(found))
    return sliced_s, time.perf_counter() - start, len(found)


def run(redis_url: str, sizes: tuple[int, ...]) -> None:
    """Load size by size, measure memory then the scan, print, drop the tables."""
    from actors.broker import configure
    from config.settings import Settings

    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": redis_url,
           "REDIS_NAMESPACE": f"bench-refresh-{uuid.uuid4().hex[:8]}",
           "SECRET_KEY": "bench-key-0123456789abcdef012345", "DEMO_SPOTIFY_PORT": "9"}  # fmt: skip
    settings = Settings.from_env(env, read_dotenv=False)
    init_database(settings.database_url)
    if not migrations.database_is_postgres():
        raise SystemExit("DATABASE_URL must be a PostgreSQL database")
    if migrations.current_version() is not None:
        raise SystemExit("this database has the app's tables already: give the bench its own")
    migrations.upgrade()
    broker = configure(settings)
    ref = RedisRef.of(broker)
    month, loaded, memory, scans = current_month(), 0, [], []
    try:
        for size in sizes:
            load(loaded, size)
            loaded = size
            database.execute_sql("DELETE FROM artist_listeners")
            if not memory:  # Redis's first use (scripts, queues) is not the refresh's
                peak_memory(broker, sliced(ref))
            ref.client.delete(ref.key("refresh-pass", month))
            memory.append((size, "slices", *peak_memory(broker, sliced(ref))))
            if size <= 100_000:
                memory.append((size, "all at once", *peak_memory(broker, all_at_once)))
            if size >= 1_000_000:
                count_this_month(size, month)
                scans.append((size, *scan_times(month)))
    finally:
        for key in ref.client.scan_iter(f"{ref.namespace}*"):
            ref.client.delete(key)
        migrations.drop_all()
        database.close()
    report(memory, scans)


def report(memory: list[tuple[int, str, int, int, float]], scans: list[tuple]) -> None:
    """Print the tables and the targets' verdicts."""
    print(f"{'artists':>11} {'design':>12} {'sent':>9} {'Redis peak MB':>14} {'s':>6}")
    for size, design, sent, peak, seconds in memory:
        print(f"{size:>11,} {design:>12} {sent:>9,} {peak / 2**20:>14.2f} {seconds:>6.1f}")
    peaks = {size: peak for size, design, _, peak, _ in memory if design == "slices"}
    small, large = peaks[min(peaks)], peaks[max(peaks)]
    ratio = large / small
    print(f"sliced peak at {max(peaks):,} / {min(peaks):,}: {ratio:.2f}x (target <= 2) "
          f"{'PASS' if ratio <= 2 else 'MISS'}")  # fmt: skip
    print(f"{'artists':>11} {'outdated':>9} {'pass scan s':>12} {'old walk s':>11}")
    for size, sliced_s, old_s, found in scans:
        verdict = "PASS" if sliced_s < SCAN_TARGET_S[size] else "MISS"
        print(f"{size:>11,} {found:>9,} {sliced_s:>12.1f} {old_s:>11.1f}  "
              f"(target < {SCAN_TARGET_S[size]:g} s) {verdict}")  # fmt: skip


def main() -> None:
    """Refuse without PostgreSQL; start Redis when none is given."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/monthly_refresh.py needs DATABASE_URL=postgresql://...")
    sizes = (10_000, 100_000, 1_000_000)
    if "--ten-million" in sys.argv[1:]:
        sizes += (10_000_000,)
    if url := os.environ.get("REDIS_URL"):
        run(url, sizes)
    else:
        with EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-refresh-")), persist=False) as s:
            run(s.url, sizes)


if __name__ == "__main__":
    main()
