"""The dashboard's pages on a big job_runs table and many dead letters: p50 and p99 per
page, through the app.

    .venv/bin/python bench/job_list.py [--rows 1000000] [--dead 10000] [-n 50]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/jobbench .venv/bin/python bench/job_list.py

Fills ``job_runs`` with ``--rows`` finished runs in one INSERT ... SELECT (85 % succeeded,
10 % failed, 5 % cancelled, over 50,000 subjects and two actors, newer ids enqueued later
over 30 days),
then times the admin pages through the real app (``create_app``, WebTest, a signed admin
session): the unfiltered list, each filter, a deep keyset page, a job's page and the
overview; then, with ``--dead`` dead letters on one queue (in ``$REDIS_URL``, or an embedded
Redis), an hour of job counters and 10,000 audit entries, the overview with Redis, the dead
letters (first and last page), the schedules, the audit trail and the confirmation pages.
Target: every page under 100 ms at 1,000,000 rows and 10,000 dead letters on PostgreSQL.
Uses a temp SQLite file, or ``$DATABASE_URL``: a database without the app's tables (they
are created and dropped again).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from http.cookies import SimpleCookie

import bottle
import dramatiq
import redis
import webtest

from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from config.settings import Settings
from models import AuditEntry, User, database, init_database, migrations
from models.db import is_postgres, utcnow
from web.app import create_app
from web.http.session import COOKIE, Session, SessionStore

TARGET_MS = 100.0
SECRET = "bench-job-list-secret-key-0123456789"

# Row i: actor, status, subject and age follow from i alone, so both databases fill the
# table with one statement and no data passes through Python.
_COLUMNS = (
    '"message_id", "actor", "args", "subject", "queue", "status", "pages_loaded", '
    '"progress_current", "attempts", "cancel_requested", "enqueued_at", "finished_at"'
)


def _select(now: str, rows: int) -> str:
    # psycopg2 reads "%" as a parameter mark: the modulo is "%%" there.
    mod = "%%" if is_postgres() else "%"
    actor = f"CASE WHEN i {mod} 20 = 0 THEN 'refresh_listeners' ELSE 'update_user' END"
    status = (
        f"CASE WHEN i {mod} 20 < 17 THEN 'succeeded' WHEN i {mod} 20 < 19 THEN 'failed' "
        "ELSE 'cancelled' END"
    )
    # Newer ids are newer runs, spread evenly over 30 days.
    step = 30 * 24 * 3600 / rows
    if is_postgres():
        age = f"TIMESTAMP '{now}' - ({rows} - i) * {step:.6f} * INTERVAL '1 second'"
    else:
        age = f"datetime('{now}', '-' || CAST(({rows} - i) * {step:.6f} AS INTEGER) || ' seconds')"
    text = "CAST(i AS TEXT)"
    return (
        f"SELECT 'bench-' || {text}, {actor}, '[]', 'user:' || CAST(i {mod} 50000 AS TEXT), "
        f"'interactive', {status}, 0, 0, 1, {'false' if is_postgres() else '0'}, {age}, {age}"
    )


def fill(rows: int) -> None:
    """Insert ``rows`` job runs in one statement."""
    now = utcnow().strftime("%Y-%m-%d %H:%M:%S")
    if is_postgres():
        source = f"FROM generate_series(1, {rows}) AS s(i)"
    else:
        source = (
            f"FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            f"WHERE i < {rows}) SELECT i FROM n)"
        )
    with database.atomic():
        database.execute_sql(f'INSERT INTO "job_runs" ({_COLUMNS}) {_select(now, rows)} {source}')
    database.execute_sql("ANALYZE")


def fill_redis(ref: RedisRef, dead: int) -> None:
    """``dead`` dead letters on the artists queue, and an hour of job counters."""
    from ops.counters import CounterBuffer
    from ops.dead_letters import dead_keys

    ids_key, msgs_key = dead_keys(ref, "artists")
    trace = "Traceback (most recent call last):\n  ...\nServerError: 503 from the artist page"
    with ref.client.pipeline(transaction=False) as pipe:
        for i in range(dead):
            message = dramatiq.Message(
                queue_name="artists", actor_name="update_artist", args=(f"artist-{i}",),
                kwargs={}, options={"redis_message_id": f"dead-{i}", "retries": 3,
                                    "traceback": trace},
            )  # fmt: skip
            pipe.zadd(ids_key, {f"dead-{i}": 1_700_000_000_000 + i})
            pipe.hset(msgs_key, f"dead-{i}", message.encode())
        pipe.execute()
    now = time.time()
    for minute in range(60):
        buffer = CounterBuffer(clock=lambda m=minute: now - m * 60)
        for k in range(200):
            buffer.record("update_artist", "succeeded", 3 + k % 400)
        buffer.record("update_user", "succeeded", 40_000)
        buffer.flush(ref)


def fill_audit(entries: int) -> None:
    """``entries`` audit rows, one statement per thousand."""
    rows = [{"at": utcnow(), "who": "admin:bench", "action": "pause", "target": "queue:bulk",
             "count": 1} for _ in range(entries)]  # fmt: skip
    with database.atomic():
        for start in range(0, entries, 1000):
            AuditEntry.insert_many(rows[start : start + 1000]).execute()


def admin_app(settings: Settings, admin: User) -> webtest.TestApp:
    """The app, with a signed session cookie of ``admin`` set on the test client."""
    app = webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    response = bottle.BaseResponse()
    request = bottle.BaseRequest({"wsgi.url_scheme": "http", "HTTP_HOST": "localhost"})
    session = Session()
    session["uid"] = admin.id  # marks it changed, so the store writes the cookie
    SessionStore(SECRET).save(session, request, response)
    for name, value in response.headerlist:
        if name.lower() == "set-cookie":
            app.set_cookie(COOKIE, SimpleCookie(value)[COOKIE].value)
    return app


def timed(app: webtest.TestApp, label: str, path: str, n: int) -> float:
    """GET ``path`` n times after a warm-up; print p50/p99 and return the p99 in ms."""
    for _ in range(3):
        app.get(path)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = app.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_int in (200, 286), (path, response.status)
    p50, p99 = statistics.median(times), statistics.quantiles(times, n=100)[98]
    print(f"{label:<34} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    return p99


def run(url: str, rows: int, n: int, var_dir: str, redis_url: str, dead: int) -> None:
    """Create the schema, fill, time every page, and drop everything again."""
    init_database(url)
    if migrations.current_version() is not None:
        raise SystemExit("this database has the app's tables already: give the bench its own")
    migrations.upgrade()
    try:
        start = time.perf_counter()
        fill(rows)
        print(f"{url.split('://')[0]}: {rows:,} job runs in {time.perf_counter() - start:.1f} s")
        fill_audit(10_000)
        admin = User.create(spotify_id="bench-admin", display_name="Admin")
        database.close()
        env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "ADMIN_SPOTIFY_IDS": "bench-admin",
               "OVERLAP_VAR_DIR": var_dir}  # fmt: skip
        app = admin_app(Settings.from_env(env, read_dotenv=False), admin)
        middle = rows // 2
        pages = [
            ("newest 50", "/admin/jobs"),
            ("status=failed", "/admin/jobs?status=failed"),
            ("status=cancelled", "/admin/jobs?status=cancelled"),
            ("actor=refresh_listeners", "/admin/jobs?actor=refresh_listeners"),
            ("subject=user:123", "/admin/jobs?subject=user:123"),
            ("since=1h", "/admin/jobs?since=1h"),
            ("status=failed&since=24h", "/admin/jobs?status=failed&since=24h"),
            ("page deep (before=mid)", f"/admin/jobs?before={middle}"),
            ("failed, deep page", f"/admin/jobs?status=failed&before={middle}"),
            ("one job's page", f"/admin/jobs/{middle}"),
            ("overview (no Redis)", "/admin"),
        ]
        worst = max(timed(app, label, path, n) for label, path in pages)
        namespace = f"bench-{os.getpid()}"
        env |= {"REDIS_URL": redis_url, "REDIS_NAMESPACE": namespace}
        ref = RedisRef(redis.Redis.from_url(redis_url), namespace)
        fill_redis(ref, dead)
        print(f"redis: {dead:,} dead letters on artists, 60 minutes of counters")
        app = admin_app(Settings.from_env(env, read_dotenv=False), admin)
        last = max(0, dead - 50)
        with_redis = [
            ("overview (Redis, durations)", "/admin"),
            (f"dead letters, {dead:,} (first page)", "/admin/dead?queue=artists"),
            ("dead letters, last page", f"/admin/dead?queue=artists&skip={last}"),
            ("confirm requeue all dead", "/admin/dead/artists/all/requeue"),
            ("schedules", "/admin/schedules"),
            ("audit trail (10,000 entries)", "/admin/audit"),
            ("confirm cancel everything", "/admin/jobs/cancel-active"),
            ("confirm retry all failed", "/admin/jobs/retry-failed"),
        ]
        try:
            worst = max(worst, *(timed(app, label, path, n) for label, path in with_redis))
        finally:
            for key in ref.client.scan_iter(f"{namespace}:*"):
                ref.client.delete(key)
        verdict = "PASS" if worst < TARGET_MS else "MISS"
        print(f"worst p99 {worst:.1f} ms (target < {TARGET_MS:g} ms): {verdict}")
    finally:
        init_database(url)
        migrations.drop_all()
        database.close()


def main() -> None:
    """Bench on $DATABASE_URL, or on a temp SQLite file removed afterwards."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="job runs to insert")
    parser.add_argument("--dead", type=int, default=10_000, help="dead letters to hold")
    parser.add_argument("-n", type=int, default=50, help="timed requests per page")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-jobs-")
    try:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            run(url, args.rows, args.n, tmp, redis_url, args.dead)
        else:
            with EmbeddedRedis(os.path.join(tmp, "redis"), persist=False) as server:
                run(url, args.rows, args.n, tmp, server.url, args.dead)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
