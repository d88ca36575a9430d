"""``overlap doctor``: is everything the app needs there and answering?

It checks, in order: the settings; that Redis and the database answer; that every
migration is applied; that a scheduler holds the lease; that workers reported in the
last minute, and every queue has one; and that Spotify's token endpoint gives the app a
token. Each problem is one sentence that says what to do. Exit 0 when all is well, 1
when something is wrong, so a deploy script or a health check can run it.

A check that needs what an earlier one found missing is not run (no database, no schema
check): its problem is already said.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from config.redis_ref import RedisRef
from config.settings import Settings, SettingsError

# A worker that reported longer ago than this is not counted as running.
WORKER_SEEN_WITHIN = dt.timedelta(minutes=1)
# The doctor waits no longer than this for any one answer.
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``problem`` is None when it passed."""

    check: str
    ok: str | None = None
    problem: str | None = None


def run_doctor(load: Callable[[], Settings] = Settings.from_env) -> int:
    """Run every check, print what each found; 0 when nothing is wrong, else 1."""
    findings = list(_findings(load))
    for finding in findings:
        if finding.problem is None:
            print(f"ok       {finding.check}: {finding.ok}")
        else:
            print(f"PROBLEM  {finding.check}: {finding.problem}")
    problems = sum(f.problem is not None for f in findings)
    if problems:
        print(f"overlap doctor: {problems} problem{'s' if problems > 1 else ''} found")
        return 1
    print("overlap doctor: everything answers")
    return 0


def _findings(load: Callable[[], Settings]) -> Iterator[Finding]:
    try:
        settings = load()
    except SettingsError as exc:
        yield Finding("settings", problem=f"{exc}. Fix it in the environment or in .env.")
        return
    yield Finding("settings", ok="read" + (" (demo mode)" if settings.demo else ""))
    database = _database(settings)
    yield database
    if database.problem is None:
        yield _schema()
    redis_finding, ref = _redis(settings)
    yield redis_finding
    if ref is not None:
        yield _while_redis_answers("scheduler", _scheduler, ref)
        yield _while_redis_answers("workers", _workers, ref)
    yield _spotify(settings)


def _database(settings: Settings) -> Finding:
    from peewee import PeeweeException

    from models import database, init_database

    try:
        init_database(settings.database_url)
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1")
    except PeeweeException as exc:
        return Finding(
            "database",
            problem=f"the database did not answer ({_first_line(exc)}). Start it, or fix "
            "DATABASE_URL.",
        )
    kind = "SQLite" if settings.is_sqlite else "PostgreSQL"
    return Finding("database", ok=f"{kind} answers")


def _schema() -> Finding:
    from models import migrations

    pending = [m.name for m in migrations.status() if m.applied is None]
    if pending:
        return Finding(
            "schema",
            problem=f"{len(pending)} migration{'s are' if len(pending) > 1 else ' is'} not "
            f"applied ({', '.join(pending)}). Run overlap db upgrade (the Procfile's release "
            "line).",
        )
    return Finding("schema", ok=f"every migration applied (version {migrations.current_version()})")


def _redis(settings: Settings) -> tuple[Finding, RedisRef | None]:
    import redis

    if not settings.redis_url:
        return Finding(
            "redis",
            problem="REDIS_URL is not set. Set it to your Redis server (only overlap run "
            "starts an embedded one, for itself).",
        ), None
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return Finding(
            "redis",
            problem=f"Redis did not answer ({_first_line(exc)}). Start Redis, or fix REDIS_URL.",
        ), None
    return Finding("redis", ok="answers"), RedisRef.from_settings(settings, client)


def _while_redis_answers(check: str, run: Callable[[RedisRef], Finding], ref: RedisRef) -> Finding:
    """``run(ref)``, or the problem of a Redis that stopped answering since the ping."""
    import redis

    try:
        return run(ref)
    except (redis.RedisError, OSError) as exc:
        return Finding(
            check,
            problem=f"Redis stopped answering ({_first_line(exc)}). Start Redis, or fix REDIS_URL.",
        )


def _scheduler(ref: RedisRef) -> Finding:
    from actors.scheduler_lease import scheduler_status

    status = scheduler_status(ref)
    if status["holder"] is None:
        return Finding(
            "scheduler",
            problem="no scheduler holds the lease, so no periodic job is sent. Start the "
            "Procfile's scheduler line (periodiq actors.app).",
        )
    return Finding("scheduler", ok=f"{status['holder']} holds the lease")


def _workers(ref: RedisRef) -> Finding:
    from jobs.queueing import QUEUES
    from ops.workers import live_workers

    since = dt.datetime.now(dt.UTC) - WORKER_SEEN_WITHIN
    seen = [w for w in live_workers(ref) if w.heartbeat_at >= since]
    if not seen:
        return Finding(
            "workers",
            problem="no worker reported in the last minute, so no job runs. Start the "
            "Procfile's worker and worker-bulk lines.",
        )
    unread = [q for q in QUEUES if not any(q in w.queues for w in seen)]
    if unread:
        return Finding(
            "workers",
            problem=f"no worker reads the queue{'s' if len(unread) > 1 else ''} "
            f"{', '.join(unread)}. Start the Procfile's worker lines as they are written.",
        )
    return Finding("workers", ok=f"{len(seen)} seen in the last minute, every queue read")


def _spotify(settings: Settings) -> Finding:
    import requests

    from spotify.errors import SpotifyError
    from spotify.oauth import AppAuth

    endpoint = f"{settings.spotify_accounts_url}/api/token"
    try:
        AppAuth(settings.but(spotify_timeout=TIMEOUT_S)).get_access_token()
    except (SpotifyError, requests.RequestException) as exc:
        where = (
            "start the demo Spotify (overlap demo-spotify; overlap run starts it)"
            if settings.demo
            else "check SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET and SPOTIFY_ACCOUNTS_URL, and "
            "that this machine reaches Spotify"
        )
        why = f"({endpoint}) gave the app no token ({_first_line(exc)}). To fix it, {where}."
        return Finding("spotify", problem=f"Spotify's token endpoint {why}")
    return Finding("spotify", ok=f"the token endpoint ({endpoint}) gives the app a token")


def _first_line(error: BaseException) -> str:
    """An error's first line, without a trailing full stop (it goes inside a sentence)."""
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__).rstrip(".")
