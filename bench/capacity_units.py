"""The per-unit sizes docs/capacity.md scales up: bytes per artist, per monthly count and
per library link in the database, and bytes per queued message and per claim in Redis.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/prio \
        .venv/bin/python bench/capacity_units.py [-n 100000]

Fills the app's tables (dropped and re-created: give it a database of its own) with ``n``
artists of realistic field lengths (22-character ids, names, page URLs, image URLs), one
month's listener row each, and ``n`` library links for each of two people, then reads
PostgreSQL's ``pg_total_relation_size`` (table, indexes and TOAST) per table after VACUUM
ANALYZE. In Redis (``$REDIS_URL`` or the embedded one) it enqueues ``n / 10`` pipelined
``update_artist`` messages and as many shared-first claims, and reads ``used_memory``
before and after each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from actors.broker import configure
from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from config.settings import Settings
from jobs import queueing
from jobs.shared_first import claim_unsent
from models import (
    Artist,
    ArtistListeners,
    User,
    UserArtist,
    current_month,
    database,
    init_database,
    migrations,
)
from models.artist import ArtistFields
from models.db import is_postgres

CHUNK = 5_000


def fill(n: int) -> None:
    """``n`` artists with a count each, linked to two people."""
    month = current_month()
    ana = User.create(spotify_id="ana-capacity", display_name="Ana")
    ben = User.create(spotify_id="ben-capacity", display_name="Ben")
    for start in range(0, n, CHUNK):
        fields = [
            ArtistFields(
                f"{i:022d}",
                f"Artist number {i}",
                f"https://open.spotify.com/artist/{i:022d}",
                f"https://i.scdn.co/image/ab6761610000e5eb{i:024x}",
                True,
            )
            for i in range(start, min(n, start + CHUNK))
        ]
        ids = list(Artist.upsert_many(fields).values())
        with database.atomic():
            ArtistListeners.insert_many(
                [{"artist": a, "month": month, "monthly_listeners": 25_000 + a} for a in ids]
            ).execute()
        UserArtist.link_many(ana.id, ids, "followed")
        UserArtist.link_many(ben.id, ids, "saved_track")


def table_bytes() -> dict[str, int]:
    """Each app table's size with its indexes and TOAST."""
    database.execute_sql("VACUUM ANALYZE")
    sizes = {}
    for model in (Artist, ArtistListeners, UserArtist):
        name = model._meta.table_name
        sizes[name] = database.execute_sql("SELECT pg_total_relation_size(%s)", (name,)).fetchone()[
            0
        ]
    return sizes


def redis_bytes(settings: Settings, n: int) -> dict[str, float]:
    """Bytes of Redis memory per queued message and per shared-first claim."""
    broker = configure(settings)
    ref = RedisRef.of(broker)
    client = broker.client
    try:
        before = client.info("memory")["used_memory"]
        ids = [f"{i:022d}" for i in range(n)]
        for start in range(0, n, CHUNK):
            queueing.send_many(
                queueing.UPDATE_ARTIST,
                queueing.ARTISTS_QUEUE,
                ([s] for s in ids[start : start + CHUNK]),
            )
        queued = client.info("memory")["used_memory"]
        for start in range(0, n, CHUNK):
            claim_unsent(ref, ids[start : start + CHUNK], current_month())
        claimed = client.info("memory")["used_memory"]
    finally:
        for key in client.scan_iter(f"{settings.redis_namespace}*"):
            client.delete(key)
        broker.close()
    return {"message": (queued - before) / n, "claim": (claimed - queued) / n}


def run(database_url: str, redis_url: str, n: int) -> None:
    env = {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": f"bench-cap-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": "bench-key-0123456789abcdef012345",
    }  # fmt: skip
    settings = Settings.from_env(env, read_dotenv=False)
    init_database(database_url)
    if not is_postgres():
        raise SystemExit("set DATABASE_URL to a PostgreSQL database of its own")
    migrations.drop_all()
    migrations.upgrade()
    try:
        fill(n)
        sizes = table_bytes()
    finally:
        migrations.drop_all()
        database.close()
    per = {"artist": sizes["artist"] / n, "artist_listeners": sizes["artist_listeners"] / n,
           "user_artist": sizes["user_artist"] / (2 * n)}  # fmt: skip
    print(f"PostgreSQL, {n:,} artists, {n:,} counts, {2 * n:,} links:")
    for name, value in per.items():
        print(f"  {name:<17} {value:6.0f} bytes per row (table, indexes, TOAST)")
    redis = redis_bytes(settings, max(1_000, n // 10))
    print(f"Redis, {max(1_000, n // 10):,} of each:")
    print(f"  queued update_artist message {redis['message']:6.0f} bytes")
    print(f"  shared-first claim           {redis['claim']:6.0f} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cap-"))
    database_url = os.environ.get("DATABASE_URL", "")
    try:
        if url := os.environ.get("REDIS_URL"):
            run(database_url, url, options.n)
        else:
            with EmbeddedRedis(tmp / "redis", persist=False) as server:
                run(database_url, server.url, options.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
