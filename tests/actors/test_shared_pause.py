"""A 429 seen by one worker process pauses the other: Spotify's Retry-After is honoured by
every process at once, so a limit costs a handful of 429s, not one per thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from actors.testing import wait_for
from jobs import queueing
from models import Artist, ArtistListeners
from models.artist import ArtistFields

ROOT = Path(__file__).resolve().parents[2]


def test_a_429_in_one_worker_pauses_both_and_every_artist_is_still_updated(
    db, broker, base_env, demo_spotify, tmp_path
):
    # The demo allows 6 artist pages per rolling 4 s; the app's own rate would allow far
    # more, so only Spotify's 429s hold the workers back.
    demo_spotify.set_faults(pages_rate_limit=6, rate_window_s=4)
    artist_ids = sorted(demo_spotify.catalog.expected_artist_ids("ben", "followed"))[:18]
    Artist.upsert_many([ArtistFields(a, a, "u", None, True) for a in artist_ids])
    env = {
        **os.environ,
        **base_env,
        "DEMO_SPOTIFY_PORT": str(demo_spotify.port),
        "REDIS_NAMESPACE": broker.namespace,
        "SPOTIFY_PAGES_RATE": "1000",
    }
    env.pop("SPOTIFY_CLIENT_ID", None)
    command = [
        str(Path(sys.executable).parent / "dramatiq"), "actors.app",
        "--processes", "1", "--threads", "4", "--queues", "artists",
    ]  # fmt: skip
    log = (tmp_path / "workers.log").open("ab")
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        for _ in range(2)
    ]
    try:
        queueing.send_many(
            queueing.UPDATE_ARTIST, queueing.ARTISTS_QUEUE, [[a] for a in artist_ids]
        )
        wait_for(
            lambda: ArtistListeners.select().count() == len(artist_ids),
            timeout=90,
            what="every artist's listener count",
        )
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)

    stats = demo_spotify.stats()
    # 18 pages at 6 per 4 s need three windows. When a pause ends, the 8 threads that
    # waited go together and the ones past the window's 6 draw a 429 (then all wait
    # again), so a few per window. Without the shared pause every thread finds the limit
    # on its own: 18 429s for the 18 pages here.
    assert stats["rate_limited"] <= len(artist_ids) // 2, stats
    assert stats["requests"]["open"] <= len(artist_ids) + stats["rate_limited"]
    for row in ArtistListeners.select(ArtistListeners, Artist).join(Artist):
        assert row.monthly_listeners == demo_spotify.catalog.monthly_listeners(
            row.artist.spotify_id
        )
