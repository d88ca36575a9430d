"""A comparison's shared artists first: sent once however often the page polls, and run
ahead of the rest of both libraries by real workers, across a worker restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dramatiq

from actors.testing import wait_for
from config.redis_ref import RedisRef
from jobs import queueing
from jobs.shared_first import pending_shared_ids, send_shared_first
from models import Artist, ArtistListeners, User, UserArtist, current_month
from models.artist import ArtistFields

ROOT = Path(__file__).resolve().parents[2]


def two_libraries(artist_ids: list[str], shared: int) -> tuple[User, User, list[str]]:
    """Ana has every artist, Ben the first ``shared`` of them; returns the shared ids."""
    ids = Artist.upsert_many([ArtistFields(a, a, "u", None, True) for a in artist_ids])
    ana = User.create(spotify_id="ana", display_name="Ana")
    ben = User.create(spotify_id="ben", display_name="Ben")
    UserArtist.link_many(ana.id, [ids[a] for a in artist_ids], "followed")
    UserArtist.link_many(ben.id, [ids[a] for a in artist_ids[:shared]], "followed")
    return ana, ben, artist_ids[:shared]


def queued_args(broker: dramatiq.Broker, queue: str) -> list[str]:
    """The artist ids of the messages waiting in ``queue`` in Redis."""
    raw = broker.client.hvals(f"{broker.namespace}:{queue}.msgs")
    return sorted(dramatiq.Message.decode(data).args[0] for data in raw)


def test_each_pending_shared_artist_is_sent_once_however_often_the_page_polls(db, broker):
    names = [f"artist{n:02d}" for n in range(10)]
    ana, ben, shared = two_libraries(names, shared=6)
    month = current_month()
    # Given one shared artist already counted this month and one gone:
    ArtistListeners.record(Artist.get(Artist.spotify_id == shared[0]).id, 5, month)
    Artist.update(gone_at=Artist.created_at).where(Artist.spotify_id == shared[1]).execute()
    ref = RedisRef.of(broker)

    # When the page polls three times, from either side:
    sent = [
        send_shared_first(ref, ana.id, ben.id, month),
        send_shared_first(ref, ben.id, ana.id, month),
        send_shared_first(ref, ana.id, ben.id, month),
    ]

    # Then the four still waiting went once, on the shared queue, and nothing else did.
    assert pending_shared_ids(ana.id, ben.id, month) == shared[2:]
    assert sent == [4, 0, 0]
    assert queued_args(broker, queueing.SHARED_QUEUE) == shared[2:]
    assert queued_args(broker, queueing.ARTISTS_QUEUE) == []


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "dramatiq"), "actors.app",
        "--processes", "1", "--threads", "2", "--queues", "shared", "interactive", "artists",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )


def stop(worker: subprocess.Popen) -> None:
    # To the main process only, which passes it on: a second SIGTERM straight to its
    # worker process would kill that at once, before it puts its fetched messages back.
    os.kill(worker.pid, signal.SIGTERM)
    worker.wait(30)


def test_shared_artists_run_before_the_rest_across_a_worker_restart(
    db, broker, base_env, demo_spotify, tmp_path
):
    # Given a sync's 30 artists queued in library order, the 10 shared ones last, and then
    # the comparison page's send of the shared ones: all of it in Redis, no worker running.
    artist_ids = sorted(demo_spotify.catalog.expected_artist_ids("ben", "followed"))[:40]
    others, shared_last = artist_ids[:30], artist_ids[30:]
    ana, ben, shared = two_libraries(shared_last + others, shared=10)
    month = current_month()
    queueing.send_many(queueing.UPDATE_ARTIST, queueing.ARTISTS_QUEUE, [[a] for a in artist_ids])
    assert send_shared_first(RedisRef.of(broker), ana.id, ben.id, month) == 10
    env = {
        **os.environ,
        **base_env,
        "DEMO_SPOTIFY_PORT": str(demo_spotify.port),
        "REDIS_NAMESPACE": broker.namespace,
        # Slow enough that the restart falls among the shared artists.
        "SPOTIFY_PAGES_RATE": "3",
    }
    env.pop("SPOTIFY_CLIENT_ID", None)
    log = tmp_path / "worker.log"

    def counted() -> int:
        return ArtistListeners.select().where(ArtistListeners.month == month).count()

    # When a worker runs a few, stops (its fetched messages go back to Redis), and a new
    # worker takes over:
    worker = start_worker(env, log)
    try:
        wait_for(lambda: counted() >= 2, timeout=60, what="the first counts")
    finally:
        stop(worker)
    assert counted() < 10, "the restart came after the shared artists: slow the rate down"
    worker = start_worker(env, log)
    try:
        wait_for(lambda: counted() == 40, timeout=90, what="every count")
    finally:
        stop(worker)

    # Then the shared artists were read first: each start may run one message of the
    # artists queue (fetched before the shared queue's) and a stop one more in flight.
    order = [
        row.artist.spotify_id
        for row in ArtistListeners.select(ArtistListeners, Artist)
        .join(Artist)
        .order_by(ArtistListeners.read_at, ArtistListeners.id)
    ]
    last_shared = max(order.index(a) for a in shared)
    assert last_shared < len(shared) + 4, "".join("S" if a in shared else "." for a in order)
    # And each artist's page was read once: the second message of a shared artist (from
    # the artists queue) found it up to date.
    assert demo_spotify.stats()["requests"]["open"] == 40
