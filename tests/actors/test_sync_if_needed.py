"""sync_if_needed: one way in for everyone who wants a user synced, and one job at most."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from actors import runtime
from actors.testing import (
    ask_for_sync_from_threads,
    assert_enqueued_with,
    assert_no_enqueued_jobs,
    enqueued,
)
from jobs import queueing
from models import JobRun, User
from models.db import utcnow
from sync.users import sync_if_needed

QUEUES = [queueing.INTERACTIVE_QUEUE, queueing.ARTISTS_QUEUE, queueing.BULK_QUEUE]


def test_a_stale_user_gets_one_update_user(db, broker):
    user = User.sign_in("ana", "Ana", {})

    job = sync_if_needed(runtime.context(), user)

    assert job.status == "queued" and job.sent_at is not None
    [message] = assert_enqueued_with(broker, "interactive", "update_user", [user.id])
    assert message.message_id == job.message_id


def test_asking_again_returns_the_same_job_and_enqueues_nothing(db, broker):
    user = User.sign_in("ana", "Ana", {})
    first = sync_if_needed(runtime.context(), user)

    again = sync_if_needed(runtime.context(), user, force=True)

    assert again.id == first.id
    assert_enqueued_with(broker, "interactive", "update_user", [user.id], count=1)


def test_a_freshly_synced_user_gets_nothing(db, broker):
    user = User.sign_in("ana", "Ana", {})
    User.update(last_synced_at=utcnow() - dt.timedelta(days=1)).where(User.id == user.id).execute()

    assert sync_if_needed(runtime.context(), User.get_by_id(user.id)) is None
    assert_no_enqueued_jobs(broker, QUEUES)


def test_a_week_old_sync_is_stale(db, broker):
    user = User.sign_in("ana", "Ana", {})
    User.update(last_synced_at=utcnow() - dt.timedelta(days=8)).where(User.id == user.id).execute()

    assert sync_if_needed(runtime.context(), User.get_by_id(user.id)) is not None


def test_force_syncs_a_fresh_user(db, broker):
    user = User.sign_in("ana", "Ana", {})
    User.update(last_synced_at=utcnow()).where(User.id == user.id).execute()

    assert sync_if_needed(runtime.context(), User.get_by_id(user.id), force=True) is not None
    assert len(enqueued(broker, "interactive")) == 1


def test_many_concurrent_requests_from_threads_and_processes_make_one_job(
    db, broker, base_env, app_settings
):
    user = User.sign_in("ana", "Ana", {})
    env = {
        **base_env,
        "DEMO_SPOTIFY_PORT": str(app_settings.demo_spotify_port),
        "REDIS_NAMESPACE": broker.namespace,
    }
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(ask_for_sync_from_threads, env, user.id, 8) for _ in range(3)]
        distinct = {f.result(timeout=120) for f in futures}

    assert distinct == {1}
    assert JobRun.select().where(JobRun.subject == f"user:{user.id}").count() == 1
    assert_enqueued_with(broker, "interactive", "update_user", [user.id], count=1)


def test_a_request_made_while_redis_is_down_is_kept_and_sent_later(db, broker, monkeypatch):
    import redis

    from jobs.recovery import recover_jobs

    user = User.sign_in("ana", "Ana", {})

    def down(*args, **kwargs):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(queueing, "send", down)
    job = sync_if_needed(runtime.context(), user)
    assert job.status == "queued" and job.sent_at is None
    assert enqueued(broker, "interactive") == []
    monkeypatch.undo()

    recovery = recover_jobs(now=utcnow() + dt.timedelta(minutes=1))

    assert recovery.resent == 1
    [message] = assert_enqueued_with(broker, "interactive", "update_user", [user.id])
    assert message.message_id == job.message_id
