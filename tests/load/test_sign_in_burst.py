"""A burst of 1,000 sign-ins of stale users within a minute: each user gets exactly one
``update_user`` (one job row, one message), and every one of them finishes.

Everything is real: the demo Spotify as its own process (``overlap demo-spotify``) with
1,000 generated users (``DEMO_SPOTIFY_LOAD_USERS``), the Procfile's ``web`` and ``worker``,
Redis and the database, at the default settings (20 Spotify requests a second for all
workers). The users signed in before and were last synced eight days ago. Each signs in
through the whole OAuth flow (``/login``, the demo's consent, ``/callback``) at a random
moment of the minute, and a third of them twice at the same moment, as from two tabs. Each
user comes from an address of their own (``X-Forwarded-For`` from the trusted 127.0.0.1, as
behind a proxy), since sign-in is limited per address, and the sign-in lane of the gate is
opened wide enough for a thousand sign-ins a minute (``SPOTIFY_SIGN_IN_RATE``).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from actors.testing import wait_for
from cli.embedded_redis import free_port
from config.redis_ref import RedisRef
from jobs import queueing
from models import JobRun, User
from models.db import utcnow
from models.job_run import FINISHED
from models.user import new_friend_code
from ops.counters import job_totals

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

USERS, TWICE_SHARE, CLIENT_THREADS = 1000, 1 / 3, 64
# A sync of one of these users costs three Spotify requests (the first page of each
# source), so the last one may end about 3,000 / 20 = 150 s after the first sign-in.
API_RATE = 20.0
# Two sign-in calls per flow, 1,333 flows in a minute, bunched at random.
SIGN_IN_RATE = 200.0
SIGN_IN_WITHIN_S = 30  # after the minute of the burst, for the last sign-ins to be answered


@dataclass
class SignIn:
    """One browser's sign-in: who, when it was due and how it went."""

    user_id: str
    due: float
    status: int | None = None
    location: str = ""
    error: str = ""
    seconds: float = 0.0
    ended: float = 0.0
    # "Sign-in is busy" answers (503 with Retry-After) before the flow went through.
    busy: int = 0


# A person told "Sign-in is busy, try again in a few seconds" signs in again (the page's
# Retry-After later), from /login: the refused callback used up its state.
BUSY_RETRIES = 3


def sign_in(web: str, started: float, attempt: SignIn) -> SignIn:
    """Sign in as a fresh browser would, at ``attempt.due`` seconds after ``started``:
    ``/login``, the demo's consent (the link for the user), then ``/callback``; again
    after a busy answer's Retry-After, as its page asks."""
    time.sleep(max(0.0, started + attempt.due - time.monotonic()))
    began = time.monotonic()
    while True:
        retry_after = _flow(web, attempt)
        if retry_after is None or attempt.busy >= BUSY_RETRIES:
            break
        attempt.busy += 1
        time.sleep(retry_after)
    attempt.ended = time.monotonic() - started
    attempt.seconds = time.monotonic() - began
    return attempt


def _flow(web: str, attempt: SignIn) -> float | None:
    """One pass of the flow; the Retry-After of a 503 (sign-in busy), else None."""
    number = int(attempt.user_id.removeprefix("load"))
    address = {"X-Forwarded-For": f"10.1.{number // 250}.{number % 250 + 1}"}
    try:
        with requests.Session() as browser:
            browser.headers.update(address)
            login = browser.get(f"{web}/login", allow_redirects=False, timeout=30)
            authorize = urlsplit(login.headers["Location"])
            query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
            consent = authorize._replace(path=f"{authorize.path}/approve", query="").geturl()
            approved = browser.get(
                consent, params={**query, "user_id": attempt.user_id}, allow_redirects=False,
                timeout=30,
            )  # fmt: skip
            callback = browser.get(approved.headers["Location"], allow_redirects=False, timeout=30)
        attempt.status, attempt.location = callback.status_code, callback.headers.get("Location")
    except (requests.RequestException, KeyError) as error:
        attempt.error = repr(error)
        return None
    if callback.status_code == 503 and "Retry-After" in callback.headers:
        return float(callback.headers["Retry-After"])
    return None


def add_stale_users(catalog_ids: list[str]) -> None:
    """The users as they were: signed in once, last synced eight days ago."""
    long_ago = utcnow() - dt.timedelta(days=8)
    expired = json.dumps({"access_token": "expired", "expires_at": 0, "token_type": "Bearer"})
    rows = [
        {"spotify_id": s, "display_name": s, "friend_code": new_friend_code(),
         "token_json": expired, "last_login_at": long_ago, "last_synced_at": long_ago,
         "created_at": long_ago}
        for s in catalog_ids
    ]  # fmt: skip
    for start in range(0, len(rows), 200):
        User.insert_many(rows[start : start + 200]).execute()


def test_a_minute_of_1000_stale_users_signing_in_makes_one_sync_each_and_all_finish(
    db, redis_client, namespace, app_env, app_processes, load_seconds, say
):
    # Given the demo Spotify with 1,000 generated users, who are stale users of the app
    demo_port = free_port()
    demo = f"http://127.0.0.1:{demo_port}"
    demo_env = {"DEMO_SPOTIFY_PORT": str(demo_port), "DEMO_SPOTIFY_LOAD_USERS": str(USERS)}
    app_processes.command("demo", ["overlap", "demo-spotify"], demo_env, f"{demo}/_demo/stats")
    user_ids = [f"load{n:04d}" for n in range(1, USERS + 1)]
    add_stale_users(user_ids)
    # ... and the app's web and worker processes
    app_processes.env.update(
        DEMO_SPOTIFY_PORT=str(demo_port),
        SPOTIFY_API_RATE=str(API_RATE),
        SPOTIFY_SIGN_IN_RATE=str(SIGN_IN_RATE),
    )
    web = app_processes.web()
    app_processes.start("worker")

    # When each signs in at a random moment of the minute, a third of them twice at once
    rng = random.Random(6)
    attempts = []
    for user_id in user_ids:
        due = rng.uniform(0, load_seconds)
        attempts += [SignIn(user_id, due) for _ in range(2 if rng.random() < TWICE_SHARE else 1)]
    attempts.sort(key=lambda a: a.due)
    burst_began = utcnow()
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        done = list(pool.map(lambda a: sign_in(web, started, a), attempts))
    burst_s = time.monotonic() - started
    users = {u.spotify_id: u.id for u in User.select(User.id, User.spotify_id)}
    subjects = [f"user:{users[s]}" for s in user_ids]

    def runs():
        return JobRun.select().where(
            (JobRun.actor == queueing.UPDATE_USER) & (JobRun.enqueued_at >= burst_began)
        )

    bound = 3 * USERS / API_RATE + 120

    def all_finished() -> bool:
        return runs().where(JobRun.status.not_in(FINISHED)).count() == 0

    wait_for(all_finished, timeout=bound, what="every update_user to finish")
    finished_s = time.monotonic() - started
    jobs = list(runs())
    wait_for(
        lambda: job_totals(RedisRef(redis_client, namespace)).get(queueing.UPDATE_USER),
        timeout=10,
        what="the workers' counts",
    )
    time.sleep(2)  # the workers add their counts to Redis once a second
    counted = job_totals(RedisRef(redis_client, namespace))[queueing.UPDATE_USER]
    waiting = [redis_client.llen(f"{namespace}:{q}") for q in ("interactive", "interactive.DQ")]

    failed = [a for a in done if a.error or a.status != 303]
    times = [a.seconds * 1000 for a in done]
    statuses = Counter(j.status for j in jobs)
    per_user = Counter(Counter(j.subject for j in jobs).values())
    still_stale = User.select().where(
        User.spotify_id.in_(user_ids) & (User.last_synced_at < burst_began)
    )
    say(
        f"sign-ins: {len(done):,} flows of {USERS:,} users "
        f"({len(done) - USERS} twice at once) in {burst_s:.1f} s "
        f"(due within {load_seconds} s), {len(failed)} failed, "
        f"{sum(a.busy for a in done)} told busy first; a flow (3 requests) p50 "
        f"{statistics.median(times):.0f} ms, p99 {statistics.quantiles(times, n=100)[98]:.0f} "
        f"ms, max {max(times):.0f} ms\n"
        f"update_user: {len(jobs):,} job rows, users by rows {dict(per_user)}, "
        f"statuses {dict(statuses)}, attempts {dict(Counter(j.attempts for j in jobs))}; "
        f"messages processed {counted}; all ended {finished_s:.0f} s after the first "
        f"sign-in (bound {bound:.0f} s); left in the queue {sum(waiting)}"
    )

    # Then every sign-in went through, a few after "Sign-in is busy" (each process lets 4
    # talk to Spotify and 2 wait: a moment of many at once on a slow machine meets it)
    assert not failed, failed[:5]
    busy = sum(a.busy for a in done)
    assert busy <= len(done) // 20, f"{busy} busy answers in {len(done)} flows"
    assert burst_s < load_seconds + SIGN_IN_WITHIN_S
    # ... each user has exactly one update_user, run once from one message
    assert sorted(j.subject for j in jobs) == sorted(subjects)
    assert all(j.attempts == 1 for j in jobs), Counter(j.attempts for j in jobs)
    assert counted.succeeded == USERS and counted.processed == USERS, counted
    assert sum(waiting) == 0
    # ... and every one of them succeeded, so nobody is stale any more
    assert statuses == {"succeeded": USERS}
    assert still_stale.count() == 0
