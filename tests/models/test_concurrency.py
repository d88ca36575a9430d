"""Several processes and threads write at once without "database is locked" errors.

This is the shape of `make run`: web, workers and the scheduler each write to the same
SQLite file (or PostgreSQL) from several threads.
"""

from __future__ import annotations

import multiprocessing
import threading

from models import Artist, User, UserArtist, database, init_database
from models.artist import ArtistFields

PROCESSES = 2
THREADS = 8
ROUNDS = 15


def _writer(url: str, proc: int, errors: list[str]) -> None:
    """Each thread reads then writes in one transaction, the pattern that deadlocks."""
    # A forked child must not reuse the parent's connection; it opens its own.
    init_database(url)

    def work(thread: int) -> None:
        try:
            with database.connection_context():
                for i in range(ROUNDS):
                    key = f"p{proc}t{thread}r{i}"
                    with database.atomic():
                        user = User.get_or_none(User.spotify_id == f"user{proc}-{thread}")
                        if user is None:
                            user = User.create(spotify_id=f"user{proc}-{thread}")
                        shared = [ArtistFields(f"shared{j}", f"S{j}", "u") for j in range(5)]
                        ids = Artist.upsert_many([ArtistFields(key, key, "u"), *shared])
                    UserArtist.link_many(user.id, ids.values(), "followed")
        except Exception as exc:  # collected and asserted on by the test
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _process_main(url: str, proc: int, queue: multiprocessing.Queue) -> None:
    errors: list[str] = []
    _writer(url, proc, errors)
    queue.put(errors)


def test_two_processes_of_eight_threads_write_without_lock_errors(db, settings):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(settings.database_url, p, queue))
        for p in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    errors = [e for _ in procs for e in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)

    assert errors == []
    assert User.select().count() == PROCESSES * THREADS
    assert Artist.select().count() == PROCESSES * THREADS * ROUNDS + 5
    assert UserArtist.select().count() == PROCESSES * THREADS * (ROUNDS + 5)


def test_concurrent_upserts_of_overlapping_artists_in_any_order_never_deadlock(db):
    """A sync's page threads (and other users' syncs) meet the same artists in any order."""
    import random

    names = [f"{i:022d}" for i in range(300)]
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with database.connection_context():
                barrier.wait()
                for _ in range(10):
                    order = names[:]
                    rng.shuffle(order)
                    Artist.upsert_many(ArtistFields(n, n, "u") for n in order)
        except Exception as exc:  # collected and asserted on below
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Artist.select().count() == 300
