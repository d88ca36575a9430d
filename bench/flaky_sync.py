"""ana's sync (170 library pages) against a Spotify failing at random, against one that never
fails (issue 22).

    .venv/bin/python bench/flaky_sync.py [--runs 10] [--rates 0,0.2,0.4] [--asks 3]

A real Dramatiq worker (in this process, 8 threads, the ``interactive`` queue) against the
demo Spotify at 20 ms a request, whose ``fault_rate`` answers that share of the Web API's
requests with a 500, 502 or 503; the app's gate at 100 requests a second. Each run empties
ana's library and syncs it again from nothing (``sync_if_needed(force=True)``); the rates
take turns, so that the machine's other work falls on all of them alike. A run is exact
when it succeeded with every page and its links per source are exactly the demo's, none
twice. The listener counts the sync asks for are counted, not sent: they are another queue's
work, and not what is measured.

``--asks 1`` asks each page once, as before the sync asked a failed page again within its
try (sync/page_asks.py): it shows what that buys. Uses ``$DATABASE_URL`` (else a temporary
SQLite file) and ``$REDIS_URL`` (else the embedded Redis).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

import dramatiq
from bench_setup import bench_env, bench_settings, fresh_schema, sign_in_demo_user

import sync.page_asks
from actors import runtime
from actors.broker import configure
from cli.embedded_redis import EmbeddedRedis
from models import Artist, JobRun, User, UserArtist, database
from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify, running_demo
from sync.users import sync_if_needed

LATENCY_MS, RATE, THREADS, TIMEOUT_S = 20, 100.0, 8, 600
SOURCES = ("followed", "saved_track", "saved_album")


@dataclasses.dataclass
class Run:
    """One sync: its rate of faults and what came of it."""

    rate: float
    seconds: float
    status: str
    exact: bool
    tries: int
    api_requests: int
    faults: int


def exact(user: User, demo: DemoSpotify) -> bool:
    """Whether the user's links per source are exactly the demo's, with no row twice."""
    for source in SOURCES:
        query = (
            Artist.select(Artist.spotify_id)
            .join(UserArtist)
            .where((UserArtist.user == user.id) & (UserArtist.source == source))
        )
        found = [a.spotify_id for a in query]
        if sorted(found) != sorted(demo.catalog.expected_artist_ids("ana", source)):
            return False
    return True


def one_run(demo: DemoSpotify, user: User, rate: float) -> Run:
    """Empty ana's library, set the demo's faults, sync, and wait for the end."""
    UserArtist.delete().where(UserArtist.user == user.id).execute()
    JobRun.delete().execute()
    demo.reset()
    demo.set_faults(fault_rate=rate)
    start = time.monotonic()
    job = sync_if_needed(runtime.context(), user, force=True)
    assert job is not None
    while True:
        time.sleep(0.1)
        row = JobRun.get_by_id(job.id)
        if row.status in ("succeeded", "failed", "cancelled"):
            break
        if time.monotonic() - start > TIMEOUT_S:
            raise SystemExit(f"a sync at {rate:.0%} did not end in {TIMEOUT_S} s")
    seconds = time.monotonic() - start
    stats = demo.stats()
    complete = row.status == "succeeded" and row.pages_loaded == row.pages_total
    return Run(
        rate=rate,
        seconds=seconds,
        status=row.status,
        exact=complete and exact(user, demo),
        tries=row.attempts,
        api_requests=stats["requests"]["api"],
        faults=stats["server_errors"],
    )


def report(runs: list[Run], rates: list[float], asks: int, database_url: str) -> None:
    """Print each rate's figures, and its median wall time against no faults."""
    print(
        f"ana, 170 pages; demo {LATENCY_MS} ms a request; gate {RATE:g}/s; {THREADS} threads; "
        f"{asks} ask(s) per page per try; database {database_url.split(':')[0]}"
    )
    base = None
    for rate in rates:
        mine = [r for r in runs if r.rate == rate]
        walls = sorted(r.seconds for r in mine)
        median = statistics.median(walls)
        base = median if base is None and rate == 0 else base
        ratio = f"{median / base:.2f} x no faults" if base else ""
        ends = {s: sum(r.status == s for r in mine) for s in ("succeeded", "failed")}
        print(
            f"faults {rate:>4.0%}: {len(mine)} runs, {sum(r.exact for r in mine)} exact, "
            f"{ends['succeeded']} succeeded, {ends['failed']} failed; wall median "
            f"{median:.1f} s (min {walls[0]:.1f}, max {walls[-1]:.1f}) {ratio}; tries median "
            f"{statistics.median(r.tries for r in mine):g} (max {max(r.tries for r in mine)}); "
            f"API requests median {statistics.median(r.api_requests for r in mine):g}, "
            f"failed answers median {statistics.median(r.faults for r in mine):g}"
        )


def run(demo: DemoSpotify, database_url: str, redis_url: str, var_dir: Path, args) -> None:
    """Sync ana ``--runs`` times at each rate, the rates taking turns, and print the figures."""
    env = bench_env(
        "bench-flaky", database_url, redis_url,
        DEMO_SPOTIFY_PORT=str(demo.port), OVERLAP_VAR_DIR=str(var_dir),
        SPOTIFY_API_RATE=str(RATE), SPOTIFY_PAGES_RATE=str(RATE),
    )  # fmt: skip
    settings = bench_settings(env)
    fresh_schema(settings)
    broker = configure(settings)
    ctx = runtime.configure(settings)
    runtime.set_context(dataclasses.replace(ctx, send_artists=lambda ids: len(list(ids))))
    from actors import users  # noqa: F401  (declares update_user)

    sync.page_asks.ASKS_PER_PAGE = args.asks
    user = sign_in_demo_user(demo, "ana")
    worker = dramatiq.Worker(broker, queues={"interactive"}, worker_threads=THREADS)
    worker.start()
    runs: list[Run] = []
    try:
        for rate in islice(cycle(args.rates), args.runs * len(args.rates)):
            runs.append(one_run(demo, user, rate))
            last = runs[-1]
            print(
                f"  {rate:>4.0%}: {last.status}, exact {last.exact}, {last.seconds:.1f} s, "
                f"{last.tries} tries, {last.api_requests} requests, {last.faults} failed",
                flush=True,
            )
    finally:
        worker.stop()
        for key in broker.client.scan_iter(f"{env['REDIS_NAMESPACE']}*"):
            broker.client.delete(key)
        broker.close()
    report(runs, args.rates, args.asks, database_url)
    database.close()


def main() -> None:
    """Start the demo, the database and Redis, run, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per rate (10)")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[0.0, 0.2, 0.4],
        help="shares of failed answers, the first 0 for the baseline (0,0.2,0.4)",
    )
    parser.add_argument("--asks", type=int, default=sync.page_asks.ASKS_PER_PAGE)
    args = parser.parse_args()
    # Every failed answer is logged by spotipy and by the worker; the figures are printed.
    logging.disable(logging.ERROR)
    var_dir = Path(tempfile.mkdtemp(prefix="bench-flaky-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'bench.db'}"
    with running_demo(DemoConfig(latency_ms=LATENCY_MS)) as demo:
        if url := os.environ.get("REDIS_URL"):
            run(demo, database_url, url, var_dir, args)
        else:
            with EmbeddedRedis(var_dir / "redis", persist=False) as server:
                run(demo, database_url, server.url, var_dir, args)


if __name__ == "__main__":
    main()
