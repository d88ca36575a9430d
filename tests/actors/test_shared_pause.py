"""A 429 seen by one worker process pauses the other: Spotify's Retry-After is honoured by
every thread of every process at once, so a thread never runs into a pause another has
already met."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from actors.testing import wait_for
from config.redis_ref import RedisRef
from jobs import queueing
from models import Artist, ArtistListeners
from models.artist import ArtistFields
from spotify.gate import SpotifyGate

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS = 2, 4


def test_a_429_in_one_worker_pauses_both_and_every_artist_is_still_updated(
    db, broker, base_env, demo_spotify, tmp_path, app_settings
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
        "--processes", "1", "--threads", str(THREADS), "--queues", "artists",
    ]  # fmt: skip
    log = (tmp_path / "workers.log").open("ab")
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        for _ in range(PROCESSES)
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
    # 18 pages at 6 per 4 s need three windows, so Spotify's limit was met.
    assert stats["rate_limited"] > 0, stats
    # Every 429 was told to the one gate both processes read (their pause lives there).
    gate = SpotifyGate(RedisRef.of(broker), app_settings)
    assert gate.stats()["open"].rate_limited_total == stats["rate_limited"]
    # When a window fills, each of the 8 threads may have a page on its way, and none can
    # know before its own answer: on a busy machine the threads bunch, and a window costs
    # up to 8 429s, however the pause is kept. What the shared pause ensures is that after
    # a 429 no thread of either process asks again until the pause is over, when a page is
    # let through (Spotify's Retry-After runs until a request of the window expires): so no
    # thread draws two 429s in a row, and a row of 429s is at most one per thread. Without
    # the pause, a thread that drew one goes on with its next artist at once and draws
    # another: the 12 artists past the first window's 6 make 12 429s in a row.
    assert stats["rate_limited_in_a_row"]["open"] <= PROCESSES * THREADS, stats
    assert stats["requests"]["open"] <= len(artist_ids) + stats["rate_limited"]
    for row in ArtistListeners.select(ArtistListeners, Artist).join(Artist):
        assert row.monthly_listeners == demo_spotify.catalog.monthly_listeners(
            row.artist.spotify_id
        )
