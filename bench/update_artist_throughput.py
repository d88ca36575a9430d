"""``update_artist`` for an artist already up to date and a no-op actor through overlap's
middleware, against a no-op on bare Dramatiq.

    .venv/bin/python bench/update_artist_throughput.py [-n 5000] [--rounds 3] [--cuts]

Three setups in one process, each on a Redis namespace of its own and processed by its own
in-process ``dramatiq.Worker(broker, worker_threads=8)``:

- ``bare``: ``RedisBroker`` with Dramatiq's default middleware only, a no-op actor;
- ``noop``: the app's broker (``actors.broker.build_broker``, every middleware), a no-op;
- ``update_artist``: the app's broker, the real actor on an up-to-date artist.

Each round enqueues N messages (one pipeline) while the setup's worker is paused, then
resumes it and times it until the queue is empty; the setups alternate, and each one's
best round counts. Targets: noop >= 0.8 x bare, update_artist >= 0.6 x bare.

``--cuts`` then measures the no-op on the app's middleware list cut after each entry
(0 = no middleware at all), one setup after the other, bare again at the end: the step
from one cut to the next is what that middleware costs per message.

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
from collections.abc import Callable
from pathlib import Path

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from actors import runtime
from actors.broker import app_middleware, build_broker, configure
from cli.embedded_redis import EmbeddedRedis
from config.settings import Settings
from jobs import queueing
from jobs.pipelined import enqueue_pipelined
from models import Artist, ArtistListeners, database, init_database, migrations
from models.artist import ArtistFields

THREADS, NOOP = 8, "bench_noop"
TARGETS = {"noop": 0.8, "update_artist": 0.6}
ARTIST_ID = "0000bencharti5tupt0date"
QUEUE = queueing.ARTISTS_QUEUE


class Setup:
    """A broker and a paused worker on it (one worker per broker: a second would share
    its queue)."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=100)
        self.worker.start()
        self.worker.pause()

    def timed_round(self, actor_name: str, n: int) -> float:
        """Messages/s of the worker draining ``n`` messages of ``actor_name``."""
        messages = [queueing.build_message(actor_name, QUEUE, [ARTIST_ID]) for _ in range(n)]
        enqueue_pipelined(self.broker, messages)
        start = time.perf_counter()
        self.worker.resume()
        self.broker.join(QUEUE, interval=5)
        elapsed = time.perf_counter() - start
        self.worker.pause()
        return n / elapsed

    def stop(self) -> None:
        """Stop the worker and remove the setup's keys."""
        self.worker.stop()
        for key in self.broker.client.scan_iter(f"{self.broker.namespace}*"):
            self.broker.client.delete(key)


def with_noop(broker: RedisBroker) -> RedisBroker:
    """``broker`` with the no-op actor declared on it."""

    @dramatiq.actor(broker=broker, actor_name=NOOP, queue_name=QUEUE)
    def noop(spotify_id: str) -> None:
        """Does nothing: the cost of the broker and the middleware alone."""

    return broker


def best_of(runs: dict[str, tuple[Setup, str]], n: int, rounds: int) -> dict[str, list[float]]:
    """Alternate the (setup, actor) runs round by round; every round's rate by name."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (setup, actor_name) in runs.items():
            rates[name].append(setup.timed_round(actor_name, n))
    return rates


def show(rates: dict[str, list[float]]) -> None:
    for name, values in rates.items():
        print(f"  {name:<16} {max(values):8.0f} msg/s  (rounds: "
              + ", ".join(f"{v:.0f}" for v in values) + ")")  # fmt: skip


def run(database_url: str, redis_url: str, n: int, rounds: int, cuts: bool) -> None:
    """Set up one up-to-date artist, alternate the setups, print the rates and ratios."""
    run_id = uuid.uuid4().hex[:8]
    env = {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": f"bench-ua-{run_id}",
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
    app = with_noop(configure(settings))
    runtime.configure(settings)
    from actors import artists  # noqa: F401  (declares update_artist)

    def bare_broker(tag: str) -> RedisBroker:
        return with_noop(RedisBroker(url=redis_url, namespace=f"bench-ua-{run_id}-{tag}"))

    bare, ours = Setup(bare_broker("bare")), Setup(app)
    runs = {
        "bare": (bare, NOOP),
        "noop": (ours, NOOP),
        "update_artist": (ours, queueing.UPDATE_ARTIST),
    }
    try:
        rates = best_of(runs, n, rounds)
    finally:
        bare.stop()
        ours.stop()
        bare.broker.close()
    print(f"database {database_url.split(':')[0]}, 1 worker x {THREADS} threads per setup, "
          f"N = {n} per round, {rounds} rounds each, alternating; best round counts")  # fmt: skip
    show(rates)
    for name, target in TARGETS.items():
        ratio = max(rates[name]) / max(rates["bare"])
        verdict = "PASS" if ratio >= target else "MISS"
        print(f"{name} / bare Dramatiq = {ratio:.2f} (target >= {target}) {verdict}")
    if cuts:
        measure_cuts(settings, bare_broker, n, rounds)
    app.close()
    migrations.drop_all()
    database.close()


def measure_cuts(
    settings: Settings, bare_broker: Callable[[str], RedisBroker], n: int, rounds: int
) -> None:
    """The no-op on the middleware list cut after each entry, one setup at a time."""
    names = [type(m).__name__ for m in app_middleware(settings)]
    print(f"\nno-op through the first k of the app's {len(names)} middleware:")
    previous = None
    for k in range(len(names) + 1):
        tag = f"cut{k}"
        broker = with_noop(
            build_broker(
                settings.but(redis_namespace=f"{settings.redis_namespace}-{tag}"),
                middleware=app_middleware(settings)[:k],
            )
        )
        setup = Setup(broker)
        try:
            rate = max(best_of({tag: (setup, NOOP)}, n, rounds)[tag])
        finally:
            setup.stop()
            broker.close()
        per_message = 1e6 / rate
        step = "" if previous is None else f"  {per_message - previous:+7.0f} us"
        added = "(none)" if k == 0 else f"+ {names[k - 1]}"
        print(f"  k={k:<2} {added:<26} {rate:7.0f} msg/s {per_message:6.0f} us/msg{step}")
        previous = per_message
    setup = Setup(bare_broker("again"))
    try:
        rate = max(best_of({"again": (setup, NOOP)}, n, rounds)["again"])
    finally:
        setup.stop()
        setup.broker.close()
    print(f"  bare Dramatiq again            {rate:7.0f} msg/s {1e6 / rate:6.0f} us/msg")


def main() -> None:
    """Parse the options, start what is missing, run, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cuts", action="store_true")
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ua-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
    try:
        if url := os.environ.get("REDIS_URL"):
            run(database_url, url, options.n, options.rounds, options.cuts)
        else:
            with EmbeddedRedis(tmp / "redis", persist=False) as server:
                run(database_url, server.url, options.n, options.rounds, options.cuts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
