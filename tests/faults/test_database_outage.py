"""PostgreSQL restarted while the app runs: during the outage every page that needs the
database answers, quickly, a 503 that says so; afterwards the same web and worker
processes serve every page and finish the syncs the outage interrupted, with no row lost.

Two restarts, each in the middle of a sync: a long one, which outlasts the retries a
failed message gets, and a short one, after which the interrupted job's row still says
running (the worker could not record the failure), its heartbeat just past the claim
window. (A retry that finds the heartbeat still fresh waits for it: tests/actors/
test_job_runs.py.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import redis
import requests

from actors.testing import assert_library_is_spotifys, wait_for
from jobs.queueing import QUEUES
from models import JobRun, User, database, init_database
from models.job_run import ACTIVE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Every answer during the outage must come within this: a hang is a failure too.
ANSWER_WITHIN_S = 15
# Longer than Dramatiq's retries of a failed message last (three, 1 s to 8 s apart): a
# message must wait for the database, not spend its retries on the outage.
LONG_OUTAGE_S = 20
# Shorter than the recovery's 30 s (jobs/recovery.py), a little longer than a claim's 4 s.
SHORT_OUTAGE_S = 5
DOWN_SENTENCE = "cannot reach its database"


def sync_of(browser: requests.Session, web: str) -> dict:
    """The signed-in person's latest sync, as ``/api/me`` shows it."""
    answer = browser.get(f"{web}/api/me", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["sync"]


def job_of(browser: requests.Session, web: str, job_id: int) -> dict:
    """A job as ``/api/jobs/<id>`` shows it."""
    answer = browser.get(f"{web}/api/jobs/{job_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def at_once(call: Callable[[], requests.Response], n: int = 8) -> list[requests.Response]:
    """``n`` requests at the same time, so that many pooled connections are in play."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


@contextmanager
def reading(url: str) -> Iterator[None]:
    """This test process's models on the private cluster for the block, then as before."""
    previous = database.obj
    db = init_database(url)
    try:
        with db.connection_context():
            yield
    finally:
        db.close_all()
        database.initialize(previous)


def test_a_postgresql_restart_answers_503_meanwhile_and_needs_no_process_restart(
    private_postgres, app_processes, demo_spotify
):
    # Given the web and worker processes on a PostgreSQL of their own, and ana's first sync
    # running (slowly, so that the outage falls in its middle).
    app_processes.env["DATABASE_URL"] = private_postgres.url
    app_processes.overlap("db", "upgrade")
    app_processes.start("web")
    app_processes.start("worker")
    app_processes.wait_for_web()
    web = app_processes.web_url
    demo_spotify.set_faults(latency_ms=40)
    ana = app_processes.sign_in(demo_spotify, "ana")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', ana.get(web, timeout=30).text)[1]
    first = sync_of(ana, web)["job_id"]
    # Every page once with many connections, so that the pool holds several when they die.
    assert {r.status_code for r in at_once(lambda: ana.get(web, timeout=30))} == {200}
    processes = {name: app_processes.members(name) for name in ("web", "worker")}
    assert len(processes["web"]) >= 2 and len(processes["worker"]) >= 2  # masters, workers

    def timed(method: str, path: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        answer = ana.request(method, f"{web}{path}", timeout=ANSWER_WITHIN_S, **kwargs)
        answer.elapsed_s = time.monotonic() - started
        return answer

    def every_page_says_the_database_is_down(job_id: int) -> None:
        pages = {
            "home": timed("GET", "/"),
            "refresh": timed("POST", "/refresh", data={"csrf_token": csrf}, allow_redirects=False),
            "api me": timed("GET", "/api/me"),
            "api job": timed("GET", f"/api/jobs/{job_id}"),
            "healthz": timed("GET", "/healthz"),
        }
        for name, answer in pages.items():
            assert answer.status_code == 503, (name, answer.status_code, answer.text[:500])
            assert answer.elapsed_s < ANSWER_WITHIN_S, name
            assert "Traceback" not in answer.text, name
        for name in ("home", "refresh"):
            assert DOWN_SENTENCE in pages[name].text, pages[name].text
            assert pages[name].headers["Retry-After"]
        for name in ("api me", "api job"):
            assert "database" in pages[name].json()["error"]
        assert pages["healthz"].json()["problems"][0].startswith("database:")
        many = at_once(lambda: ana.get(web, timeout=ANSWER_WITHIN_S))
        assert {r.status_code for r in many} == {503}
        # A signed-out visitor's landing page needs no database and still works.
        assert requests.get(web, timeout=ANSWER_WITHIN_S).status_code == 200

    def every_page_answers_again(job_id: int) -> None:
        for path in ("/", "/api/me", f"/api/jobs/{job_id}", "/healthz"):
            many = at_once(lambda p=path: ana.get(web + p, timeout=30))
            assert {r.status_code for r in many} == {200}, (path, [r.status_code for r in many])
        assert requests.get(f"{web}/healthz", timeout=30).json()["status"] == "ok"

    def restart_database_mid_sync(job_id: int, seconds: float) -> dict:
        wait_for(
            lambda: job_of(ana, web, job_id)["progress"]["current"] >= 10,
            timeout=120,
            what=f"ten pages of sync {job_id}",
        )
        attempts = job_of(ana, web, job_id)["attempts"]
        # When PostgreSQL stops, connections cut ("fast", as a restart does)...
        private_postgres.stop("fast")
        down_at = time.monotonic()
        # ...then each page that needs the database says so in a sentence, promptly.
        every_page_says_the_database_is_down(job_id)
        time.sleep(max(0.0, seconds - (time.monotonic() - down_at)))
        for name in ("web", "worker"):
            assert app_processes.running[name].poll() is None, app_processes.log(name)
        # When PostgreSQL is back, every page answers 200 again, on every pooled
        # connection, with no process restarted...
        private_postgres.start()
        up_at = time.monotonic()
        wait_for(
            lambda: ana.get(web, timeout=ANSWER_WITHIN_S).status_code == 200,
            timeout=60,
            what="the home page to answer 200 again",
        )
        answering_s = time.monotonic() - up_at
        every_page_answers_again(job_id)
        # ...and the interrupted sync is taken up again and succeeds.
        seen: list[str] = []

        def ended() -> dict | None:
            job = job_of(ana, web, job_id)
            if not seen or seen[-1] != job["status"]:
                seen.append(job["status"])
            if job["attempts"] > attempts and "taken up" not in figures:
                figures["taken up"] = round(time.monotonic() - up_at, 1)
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        figures = {"outage": round(up_at - down_at, 1), "answering": round(answering_s, 1)}
        done = wait_for(ended, timeout=240, what=f"sync {job_id} to end")
        assert done["status"] == "succeeded", (done, app_processes.log("worker"))
        assert done["attempts"] > attempts
        figures["ended"] = round(time.monotonic() - up_at, 1)
        figures["statuses"] = seen
        return figures

    # A long restart in the middle of the first sync.
    long = restart_database_mid_sync(first, LONG_OUTAGE_S)

    # A sync asked for afterwards, and a short restart in its middle.
    asked = ana.post(f"{web}/refresh", data={"csrf_token": csrf}, allow_redirects=False)
    assert asked.status_code == 303, asked.text
    second = sync_of(ana, web)["job_id"]
    assert second != first
    short = restart_database_mid_sync(second, SHORT_OUTAGE_S)

    # Nothing was given up for good meanwhile: no message of any queue was dead-lettered.
    broker = redis.Redis.from_url(app_processes.env["REDIS_URL"])
    namespace = app_processes.env["REDIS_NAMESPACE"]
    dead = {q: broker.zcard(f"{namespace}:{q}.XQ") for q in QUEUES}
    assert not any(dead.values()), dead
    assert {n: app_processes.members(n) for n in processes} == processes, "a process restarted"
    with reading(private_postgres.url):
        user = User.get(User.spotify_id == "ana")
        assert_library_is_spotifys(user, demo_spotify.catalog, "ana")
        assert not JobRun.select().where(JobRun.status.in_(ACTIVE), JobRun.actor == "update_user")
    print(f"\nlong restart {long}\nshort restart {short}")
