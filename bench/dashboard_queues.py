"""Every dashboard page with 100,000 messages waiting: p50 and p99 per page, through the app.

    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/dashboard_queues.py
    .venv/bin/python bench/dashboard_queues.py [--waiting 100000] [-n 100]   # embedded Redis

Fills a Redis (``$REDIS_URL`` under a namespace of its own, removed afterwards; or an
embedded one) as a busy deployment's would be: ``--waiting`` messages on the artists queue
(``update_artist``, as the broker stores them), 5,000 more on interactive, each a person's
sync with its job row, the last of them the job whose page is timed (its place in the
queue is found by a scan of the whole list), 1,000 delayed and 500 retrying messages in the
artists delay queue, 1,000 dead letters, two hours of per-minute and a week of hourly job
counters; then times every dashboard page through the real app (``create_app``, WebTest, a
signed admin session), 100 requests each after a warm-up. Target: every page under 100 ms
p99. SQLite in a temp folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid

import dramatiq
import redis
from job_list import admin_app, fill_audit, timed

from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from config.settings import Settings
from models import JobRun, User, database, init_database, migrations
from ops.counters import CounterBuffer
from ops.dead_letters import dead_keys

TARGET_MS = 100.0
SECRET = "bench-job-list-secret-key-0123456789"
BATCH = 5_000


def _message(queue: str, actor: str, args: list[object], **options: object) -> tuple[str, str, str]:
    """(broker id, Dramatiq message id, stored JSON) of one message as the broker keeps it."""
    broker_id = str(uuid.uuid4())
    message = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=tuple(args), kwargs={},
        options={"redis_message_id": broker_id, **options},
    )  # fmt: skip
    return broker_id, message.message_id, message.encode().decode()


def fill_waiting(ref: RedisRef, queue: str, actor: str, count: int) -> list[str]:
    """``count`` waiting messages on ``queue``; their Dramatiq message ids, oldest first."""
    ids = []
    for start in range(0, count, BATCH):
        with ref.client.pipeline(transaction=False) as pipe:
            for i in range(start, min(start + BATCH, count)):
                broker_id, message_id, data = _message(queue, actor, [f"artist-{i:07d}"])
                pipe.hset(ref.key(f"{queue}.msgs"), broker_id, data)
                pipe.rpush(ref.key(queue), broker_id)
                ids.append(message_id)
            pipe.execute()
    return ids


def fill_delayed(ref: RedisRef, queue: str, delayed: int, retrying: int) -> None:
    """Messages in ``queue``'s delay queue: a first try due later, and retries."""
    now_ms = int(time.time() * 1000)
    with ref.client.pipeline(transaction=False) as pipe:
        for i in range(delayed + retrying):
            retries = {"retries": 1 + i % 3} if i >= delayed else {}
            broker_id, _, data = _message(
                f"{queue}.DQ", "update_artist", [f"late-{i}"], eta=now_ms + 60_000 + i, **retries
            )
            pipe.hset(ref.key(f"{queue}.DQ.msgs"), broker_id, data)
        pipe.execute()


def fill_dead_and_counters(ref: RedisRef, dead: int) -> None:
    """``dead`` dead letters on artists, two hours by minute and a week by hour of counts."""
    ids_key, msgs_key = dead_keys(ref, "artists")
    with ref.client.pipeline(transaction=False) as pipe:
        for i in range(dead):
            broker_id, _, data = _message("artists", "update_artist", [f"dead-{i}"], retries=3)
            pipe.zadd(ids_key, {broker_id: 1_700_000_000_000 + i})
            pipe.hset(msgs_key, broker_id, data)
        pipe.execute()
    now = time.time()
    # One flush per minute for two hours, one per hour for the week before.
    for when in [now - m * 60 for m in range(120)] + [now - h * 3600 for h in range(2, 168)]:
        buffer = CounterBuffer(clock=lambda w=when: w)
        for k in range(100):
            buffer.record("update_artist", "succeeded" if k % 10 else "retried", 3 + k, "artists")
        buffer.record("update_user", "succeeded", 40_000, "interactive")
        buffer.flush(ref)


def fill_jobs(ref: RedisRef) -> int:
    """5,000 people's syncs waiting on interactive, each with its job row; the last one's id."""
    message_ids = fill_waiting(ref, "interactive", "update_user", 5_000)
    rows = [
        {"message_id": m, "actor": "update_user", "args": [i], "subject": f"user:{i}",
         "queue": "interactive", "status": "queued"}
        for i, m in enumerate(message_ids)
    ]  # fmt: skip
    with database.atomic():
        for start in range(0, len(rows), 1000):
            JobRun.insert_many(rows[start : start + 1000]).execute()
    return int(JobRun.get(JobRun.message_id == message_ids[-1]).id)


BASELINE = ("confirm run now", "/admin/schedules/refresh_listeners/run")
PAGES = [
    ("overview, last hour", "/admin"),
    ("overview, last 24 hours", "/admin?range=24h"),
    ("overview, last 7 days", "/admin?range=7d"),
    ("queue artists, waiting (first 50)", "/admin/queues/artists"),
    ("queue artists, waiting (last 50)", "/admin/queues/artists?skip={deep}"),
    ("queue artists, delayed", "/admin/queues/artists?kind=delayed"),
    ("queue artists, retrying", "/admin/queues/artists?kind=retrying"),
    ("queue interactive (tracked)", "/admin/queues/interactive"),
    ("confirm purge artists (counts)", "/admin/queues/artists/purge"),
    ("job runs", "/admin/jobs"),
    ("job runs, queued", "/admin/jobs?status=queued"),
    ("last queued job (its place)", "/admin/jobs/{job}"),
    ("dead letters", "/admin/dead?queue=artists"),
    ("schedules", "/admin/schedules"),
    ("audit trail", "/admin/audit"),
    ("confirm cancel everything", "/admin/jobs/cancel-active"),
]


def run(url: str, redis_url: str, waiting: int, n: int, var_dir: str) -> None:
    """Fill, time every page, and remove what was filled."""
    init_database(url)
    migrations.upgrade()
    namespace = f"bench-queues-{os.getpid()}"
    ref = RedisRef(redis.Redis.from_url(redis_url), namespace)
    try:
        start = time.perf_counter()
        fill_waiting(ref, "artists", "update_artist", waiting)
        fill_delayed(ref, "artists", 1_000, 500)
        fill_dead_and_counters(ref, 1_000)
        job = fill_jobs(ref)
        fill_audit(1_000)
        print(f"filled {waiting:,} waiting on artists and the rest in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        admin = User.create(spotify_id="bench-admin", display_name="Admin")
        database.close()
        env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "ADMIN_SPOTIFY_IDS": "bench-admin",
               "OVERLAP_VAR_DIR": var_dir, "REDIS_URL": redis_url,
               "REDIS_NAMESPACE": namespace}  # fmt: skip
        app = admin_app(Settings.from_env(env, read_dotenv=False), admin)
        values = {"deep": max(0, waiting - 50), "job": job}
        # The baseline, timed in the same run: a page that reads no queue (a confirmation
        # that only renders), so the ratios say what the queues cost whatever the machine.
        base = timed(app, f"baseline: {BASELINE[0]}", BASELINE[1], n)
        worst = 0.0
        for label, path in PAGES:
            p99 = timed(app, label, path.format(**values), n)
            worst = max(worst, p99)
            print(f"{'':<34} p99 = {p99 / base:.1f} x the baseline's")
        verdict = "PASS" if worst < TARGET_MS else "MISS"
        print(f"worst p99 {worst:.1f} ms (target < {TARGET_MS:g} ms): {verdict}")
    finally:
        for key in ref.client.scan_iter(f"{namespace}:*", count=1000):
            ref.client.delete(key)


def main() -> None:
    """Bench on $REDIS_URL (or an embedded Redis) and a temp SQLite file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=100_000, help="messages on artists")
    parser.add_argument("-n", type=int, default=100, help="timed requests per page")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-queues-")
    try:
        url = f"sqlite:///{tmp}/bench.db"
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            run(url, redis_url, args.waiting, args.n, tmp)
        else:
            with EmbeddedRedis(os.path.join(tmp, "redis"), persist=False) as server:
                run(url, server.url, args.waiting, args.n, tmp)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
