"""``update_artist`` for an artist already up to date, against a bare no-op actor.

    .venv/bin/python bench/update_artist_throughput.py [-n 5000] [--rounds 2]

Both actors run on the app's broker (``actors.broker.build_broker``, same middleware) and
queue, processed by one in-process ``dramatiq.Worker(broker, worker_threads=8)``. Each
round enqueues N messages of one actor (pipelined, ``jobs.queueing.send_many``) while the
worker is paused, then resumes it and times it until the queue is empty; the two actors
alternate, and each one's best round counts. Target: update_artist's rate >= 0.5 x the no-op's.
Uses ``$DATABASE_URL`` (its app tables are dropped and re-created: give it a database of
its own) or a temp SQLite file, and ``$REDIS_URL`` or the embedded Redis.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import dramatiq

from actors import runtime
from actors.broker import configure
from cli.embedded_redis import EmbeddedRedis
from config.settings import Settings
from jobs import queueing
from models import Artist, ArtistListeners, database, init_database, migrations
from models.artist import ArtistFields

THREADS, TARGET, NOOP = 8, 0.5, "bench_noop"
ARTIST_ID = "0000bencharti5tupt0date"


def timed_round(broker: dramatiq.Broker, worker: dramatiq.Worker, actor_name: str, n: int) -> float:
    """Messages/s of the (paused) worker draining ``n`` messages of ``actor_name``."""
    queueing.send_many(actor_name, queueing.ARTISTS_QUEUE, ([ARTIST_ID] for _ in range(n)))
    start = time.perf_counter()
    worker.resume()
    broker.join(queueing.ARTISTS_QUEUE, interval=5)
    elapsed = time.perf_counter() - start
    worker.pause()
    return n / elapsed


def run(database_url: str, redis_url: str, n: int, rounds: int) -> None:
    """Set up one up-to-date artist, alternate the two actors, print the rates."""
    namespace = f"bench-ua-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "REDIS_NAMESPACE": namespace,
        "SECRET_KEY": "bench-key-0123456789abcdef012345",
        "DEMO_SPOTIFY_PORT": "9",  # never called: the artist is fresh
    }  # fmt: skip
    settings = Settings.from_env(env, read_dotenv=False)
    init_database(database_url)
    migrations.drop_all()
    migrations.upgrade()
    ids = Artist.upsert_many([ArtistFields(ARTIST_ID, "Bench", None, None, True)])
    ArtistListeners.record(ids[ARTIST_ID], 1234)
    database.close()
    broker = configure(settings)
    runtime.configure(settings)
    from actors import artists  # noqa: F401  (declares update_artist)

    @dramatiq.actor(actor_name=NOOP, queue_name=queueing.ARTISTS_QUEUE)
    def noop(spotify_id: str) -> None:
        """Does nothing: the cost of the broker and the middleware alone."""

    rates: dict[str, list[float]] = {NOOP: [], queueing.UPDATE_ARTIST: []}
    # One worker for the whole run (each new Worker adds its middleware to the broker).
    worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=100)
    worker.start()
    worker.pause()
    try:
        for _ in range(rounds):
            for name in rates:
                rates[name].append(timed_round(broker, worker, name, n))
    finally:
        worker.stop()
        for key in broker.client.scan_iter(f"{namespace}*"):
            broker.client.delete(key)
        broker.close()
        migrations.drop_all()
        database.close()
    bare, real = max(rates[NOOP]), max(rates[queueing.UPDATE_ARTIST])
    ratio = real / bare
    print(f"database {database_url.split(':')[0]}, 1 worker x {THREADS} threads, "
          f"N = {n} per round, {rounds} rounds each, best round counts")  # fmt: skip
    for name, values in rates.items():
        print(f"{name:<14} {max(values):8.0f} msg/s  (rounds: "
              + ", ".join(f"{v:.0f}" for v in values) + ")")  # fmt: skip
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print(f"update_artist / no-op = {ratio:.2f} (target >= {TARGET}) {verdict}")


def main() -> None:
    """Parse the options, start what is missing, run, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ua-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
    try:
        if url := os.environ.get("REDIS_URL"):
            run(database_url, url, options.n, options.rounds)
        else:
            with EmbeddedRedis(tmp / "redis", persist=False) as server:
                run(database_url, server.url, options.n, options.rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
