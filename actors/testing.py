"""Test helpers in the spirit of ActiveJob's ``assert_enqueued_with``: what waits in Redis.

They read the Redis broker's own storage (a list of ids and a hash of messages per queue),
so they see exactly what a worker would receive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from config.redis_ref import RedisRef

T = TypeVar("T")


def enqueued(broker: RedisBroker, queue: str, delayed: bool = False) -> list[Message]:
    """The messages waiting on ``queue`` (or on its delay queue), oldest first."""
    name = RedisRef.of(broker).key(f"{queue}{'.DQ' if delayed else ''}")
    ids = broker.client.lrange(name, 0, -1)
    if delayed:
        ids = broker.client.hkeys(f"{name}.msgs")
    raw = broker.client.hmget(f"{name}.msgs", ids) if ids else []
    return [Message.decode(data) for data in raw if data is not None]


def assert_enqueued_with(
    broker: RedisBroker, queue: str, actor_name: str, args: Sequence[Any], count: int = 1
) -> list[Message]:
    """Assert that exactly ``count`` messages for ``actor_name(*args)`` wait on ``queue``."""
    found = [
        m
        for m in enqueued(broker, queue)
        if m.actor_name == actor_name and list(m.args) == list(args)
    ]
    assert len(found) == count, (
        f"expected {count} {actor_name}{tuple(args)} on {queue!r}, found {len(found)}: "
        f"{[(m.actor_name, m.args, m.message_id) for m in enqueued(broker, queue)]}"
    )
    return found


def assert_no_enqueued_jobs(broker: RedisBroker, queues: Sequence[str]) -> None:
    """Assert that nothing waits on any of ``queues``."""
    waiting = {q: len(enqueued(broker, q)) for q in queues}
    assert not any(waiting.values()), f"messages are waiting: {waiting}"


def ask_for_sync_from_threads(env: dict[str, str], user_id: int, threads: int) -> int:
    """In a fresh process: ``threads`` threads call ``sync_if_needed`` for one user at once.

    For the tests of the one-job rule across processes (started with ``spawn``, so each
    process opens its own connections as a real worker or web process does). Returns how
    many distinct jobs the threads were given.
    """
    import threading

    from actors import runtime
    from actors.broker import configure
    from config.settings import Settings
    from models import User, database, init_database, tokens
    from sync.users import sync_if_needed

    settings = Settings.from_env(env, read_dotenv=False)
    init_database(settings.database_url)
    tokens.configure(settings.token_keys)
    configure(settings)
    ctx = runtime.configure(settings)
    barrier = threading.Barrier(threads)
    job_ids: set[int] = set()

    def ask() -> None:
        with database.connection_context():
            user = User.get_by_id(user_id)
            barrier.wait()
            job = sync_if_needed(ctx, user)
            assert job is not None, "the user needs a sync, so every thread is given a job"
            job_ids.add(job.id)

    pool = [threading.Thread(target=ask) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(job_ids)


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 60.0,
    what: str = "it",
    seen: Callable[[], Any] | None = None,
) -> T:
    """Poll ``predicate`` until it gives something truthy, and return that; fail after
    ``timeout`` seconds naming ``what`` was awaited, and what ``seen`` gives then (the
    state the wait was watching), so that a failure says how far things got."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    saw = f"; saw {seen()!r}" if seen is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{saw}")


def assert_library_is_spotifys(user: Any, catalog: Any, spotify_id: str) -> None:
    """The user's links per source equal the demo Spotify's ``spotify_id``'s, with no
    duplicate rows."""
    from models import Artist, UserArtist

    for source in ("followed", "saved_track", "saved_album"):
        query = (
            Artist.select(Artist.spotify_id)
            .join(UserArtist)
            .where((UserArtist.user == user.id) & (UserArtist.source == source))
        )
        spotify_ids = [a.spotify_id for a in query]
        assert len(spotify_ids) == len(set(spotify_ids)), f"duplicate {source} rows"
        assert set(spotify_ids) == set(catalog.expected_artist_ids(spotify_id, source)), source


def job_finished(job_id: int) -> Callable[[], Any]:
    """A ``wait_for`` predicate: the job's row once it has ended (any final status)."""
    from models import JobRun
    from models.job_run import FINISHED

    def check() -> Any:
        job = JobRun.get_by_id(job_id)
        return job if job.status in FINISHED else None

    return check
