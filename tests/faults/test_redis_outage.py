"""Redis stopped and started again while the app runs, against real processes: a Redis of
the test's own (stopped and started on the same port, without persistence, so it comes
back empty), the Procfile's web, worker, worker-bulk and scheduler processes, and the demo Spotify.

While Redis is down the web stays up: pages that need no Redis answer, a request to sync
is written to the database first (no ``sent_at``) and the page says background work is
delayed; when Redis is back the same worker sends what waited, without a restart, and the
syncs end ``succeeded`` with exactly the demo Spotify's artists.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests

from actors.scheduler_lease import scheduler_status
from actors.testing import assert_library_is_spotifys, wait_for
from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from config.settings import Settings
from models import JobRun, User
from models.db import utcnow
from models.job_run import ACTIVE, FINISHED, user_subject
from ops.counters import job_totals
from ops.pause import pause_queue, resume_queue
from ops.workers import live_workers
from web.state.redis_client import ANSWER_TIMEOUT_S, PAUSE_S

# Every answer while Redis is down must come within this: a hung request is a failure too.
ANSWER_WITHIN_S = 5.0
# How long Redis stays down in the first test.
OUTAGE_S = 8.0
DELAYED = "Background work is delayed"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own, to stop and start again (never the machine's shared one)."""
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    yield server
    server.stop()


@pytest.fixture
def app_env(own_redis: EmbeddedRedis, app_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The shared fault tests' process environment, on this test's own Redis."""
    app_env["REDIS_URL"] = own_redis.url
    yield app_env
    if own_redis.process is None:  # a test that failed while Redis was down
        own_redis.start()  # for the shared fixture's cleaning of the test's keys


class Browser:
    """One person's session with the web process, keeping the page's CSRF token."""

    def __init__(self, web: str) -> None:
        self.web = web
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str, **kwargs) -> requests.Response:
        answer = self.http.get(self.web + path, allow_redirects=False, timeout=30, **kwargs)
        if found := re.search(r'name="csrf-token" content="([^"]+)"', answer.text):
            self.csrf = found[1]
        return answer

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        data = {**(data or {}), "csrf_token": self.csrf}
        return self.http.post(
            self.web + path, data=data, allow_redirects=False, timeout=30, **kwargs
        )

    def sign_in(self, demo_spotify, spotify_id: str) -> requests.Response:
        """The real flow: /login, the demo's consent page, /callback; then the home page."""
        query = parse_qs(urlsplit(self.get("/login").headers["Location"]).query)
        state = query["state"][0]
        code = demo_spotify.code_for(spotify_id, query["redirect_uri"][0], state=state)
        callback = self.get("/callback", params={"code": code, "state": state})
        assert callback.status_code == 303, callback.text
        self.get("/")  # the new session's CSRF token
        return callback

    def sync(self) -> dict:
        """The person's latest sync as ``/api/me`` shows it."""
        answer = self.get("/api/me")
        assert answer.status_code == 200, answer.text
        return answer.json()["sync"]


class Answers:
    """The requests made while Redis was down: what each answered, and how fast."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[requests.Response, float]] = {}

    def __call__(self, label: str, call: Callable[[], requests.Response]) -> requests.Response:
        started = time.monotonic()
        answer = call()
        self.seen[label] = (answer, time.monotonic() - started)
        return answer

    def report(self) -> str:
        return "\n".join(
            f"  {label:<34} {answer.status_code}  {seconds * 1000:6.1f} ms"
            for label, (answer, seconds) in self.seen.items()
        )


def user(spotify_id: str) -> User:
    return User.get(User.spotify_id == spotify_id)


def latest_sync(spotify_id: str) -> JobRun:
    return JobRun.latest_for("update_user", user_subject(user(spotify_id).id))


def finished(job_id: int) -> JobRun | None:
    job = JobRun.get_by_id(job_id)
    return job if job.status in FINISHED else None


def defer_a_sync(env: dict[str, str], person: User, seconds: float) -> JobRun:
    """A sync of ``person`` waiting to retry in ``seconds``, its message sent with that
    delay, as a worker leaves a sync Spotify asked to wait."""
    from actors.broker import configure
    from jobs import queueing
    from jobs.queueing import send_job

    configure(Settings.from_env(env, read_dotenv=False))
    message = queueing.build_message("update_user", "interactive", [person.id])
    job, created = JobRun.open(
        message_id=message.message_id, actor="update_user", args=[person.id],
        subject=user_subject(person.id), queue="interactive", status="retrying",
    )  # fmt: skip
    assert created
    job.resume_at = utcnow() + dt.timedelta(seconds=seconds)
    JobRun.update(resume_at=job.resume_at).where(JobRun.id == job.id).execute()
    assert send_job(job, message)
    return job


def worker_log_is_clean(app_processes, *names: str) -> None:
    """No thread of these worker processes died and no middleware hook of theirs failed."""
    for name in names or ("worker",):
        log = (Path(app_processes.log_dir) / f"{name}.log").read_text(errors="replace")
        for sign in ("Exception in thread", "Unexpected failure in", "Unhandled error"):
            assert sign not in log, f"{sign!r} in {name}'s log:\n{app_processes.log(name)}"


def test_while_redis_is_down_pages_answer_and_sync_requests_wait_in_the_database(
    db, own_redis, app_processes, demo_spotify, capsys
):
    # Given the web and worker processes, and three people signed in and synced.
    app_processes.start("web")
    app_processes.start("worker")
    app_processes.wait_for_web()
    web = app_processes.web_url
    cleo, emma = Browser(web), Browser(web)
    cleo.sign_in(demo_spotify, "cleo")
    Browser(web).sign_in(demo_spotify, "dmitri")
    emma.sign_in(demo_spotify, "emma")  # the demo's admin
    for name in ("cleo", "dmitri", "emma"):
        wait_for(lambda n=name: finished(latest_sync(n).id), 60, f"{name}'s first sync")
    friend = user("dmitri").friend_code
    friend_page = f"/with/{user('dmitri').id}"  # once the code is typed (POST /compare)
    processes = {name: app_processes.members(name) for name in ("web", "worker")}

    # When Redis stops...
    own_redis.stop()
    down_at = time.monotonic()
    # (Dmitri's library is now old, so opening the comparison asks for his sync.)
    User.update(last_synced_at=utcnow() - dt.timedelta(days=30)).where(
        User.spotify_id == "dmitri"
    ).execute()
    ben = Browser(web)
    ask = Answers()
    ask("GET /healthz", lambda: cleo.get("/healthz"))
    ask("GET / (home)", lambda: cleo.get("/"))
    ask("GET /api/me", lambda: cleo.get("/api/me"))
    ask("POST /refresh (htmx)", lambda: cleo.post("/refresh", headers={"HX-Request": "true"}))
    ask("POST /refresh", lambda: cleo.post("/refresh"))
    ask("POST /compare", lambda: cleo.post("/compare", {"friend_code": friend}))
    ask("POST /compare (wrong code)", lambda: cleo.post("/compare", {"friend_code": "Z" * 10}))
    ask("GET /with/<id>", lambda: cleo.get(friend_page))
    ask("GET /api/compare/<code>", lambda: cleo.get(f"/api/compare/{friend}"))
    ask("sign-in of ben (never synced)", lambda: ben.sign_in(demo_spotify, "ben"))
    ask("GET /loading (ben)", lambda: ben.get("/loading"))
    ask("GET /admin", lambda: emma.get("/admin"))
    ask("GET /admin/jobs", lambda: emma.get("/admin/jobs"))
    ask("GET /api/queue/stats", lambda: emma.get("/api/queue/stats"))
    ask("GET /metrics", lambda: emma.get("/metrics"))
    job_id = latest_sync("cleo").id
    ask("GET /api/jobs/<id>", lambda: cleo.get(f"/api/jobs/{job_id}"))
    # A few seconds on, an unsent request is known to wait for Redis on every page.
    time.sleep(3)
    ask("GET /api/me (3 s on)", lambda: cleo.get("/api/me"))
    ask(
        "GET /sync-status (3 s on)",
        lambda: cleo.get("/sync-status", headers={"HX-Request": "true"}),
    )
    ask("GET / (3 s on)", lambda: cleo.get("/"))
    ask("GET /loading (ben, 3 s on)", lambda: ben.get("/loading", headers={"HX-Request": "true"}))
    ask(
        "GET /with/<id> (htmx, 3 s on)",
        lambda: cleo.get(friend_page, headers={"HX-Request": "true"}),
    )
    ask("GET /api/compare/<code> (3 s on)", lambda: cleo.get(f"/api/compare/{friend}"))
    made_in_outage = len(ask.seen)
    # A worker process that starts while Redis is down comes up all the same.
    app_processes.start("worker-bulk")

    # ...then the web answers every request promptly, without a 500: only the answers about
    # Redis itself are 503s, and they say so.
    with capsys.disabled():
        print(f"\nwhile Redis was down:\n{ask.report()}")
    for label, (answer, seconds) in ask.seen.items():
        assert seconds < ANSWER_WITHIN_S, (label, seconds)
        assert "Traceback" not in answer.text, label
        if label in ("GET /healthz", "GET /api/queue/stats", "GET /metrics"):
            assert answer.status_code == 503, (label, answer.status_code, answer.text[:300])
        else:
            assert answer.status_code < 500, (label, answer.status_code, answer.text[:300])
    seen = {label: answer for label, (answer, _) in ask.seen.items()}
    assert seen["GET /healthz"].json()["problems"] == ["redis: ConnectionError"]
    assert "Redis is unavailable" in seen["GET /api/queue/stats"].text
    assert "Redis is not answering" in seen["GET /admin"].text
    assert seen["POST /compare"].status_code == 303
    assert seen["POST /compare (wrong code)"].status_code == 404
    assert seen["GET /loading (ben)"].status_code == 200
    assert seen["GET /api/jobs/<id>"].json()["position"] is None
    # A page whose own request was just refused says so at once; the others a moment later.
    for label in ("POST /refresh (htmx)", "GET /with/<id>"):
        assert DELAYED in seen[label].text, (label, seen[label].text[:2000])
    for label in ("GET /sync-status (3 s on)", "GET / (3 s on)", "GET /loading (ben, 3 s on)",
                  "GET /with/<id> (htmx, 3 s on)"):  # fmt: skip
        assert DELAYED in seen[label].text, (label, seen[label].text[:2000])
    assert seen["GET /api/me (3 s on)"].json()["sync"]["delayed"] is True
    compared = seen["GET /api/compare/<code> (3 s on)"].json()
    assert compared["me"]["sync"]["delayed"] and compared["friend"]["sync"]["delayed"]
    # Each request is a job row in the database, waiting to be sent.
    waiting = {name: latest_sync(name) for name in ("cleo", "dmitri", "ben")}
    for name, job in waiting.items():
        assert job.status == "queued" and job.sent_at is None, (name, job, job.sent_at)
    assert JobRun.select().where(JobRun.status.in_(ACTIVE)).count() == 3  # one per person
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    for name in ("web", "worker"):
        assert app_processes.running[name].poll() is None, app_processes.log(name)

    # When Redis is back...
    own_redis.start()
    up_at = time.monotonic()
    outage_s = up_at - down_at

    # ...then the same worker sends what waited, and every sync succeeds.
    def all_sent() -> bool:
        return all(JobRun.get_by_id(j.id).sent_at for j in waiting.values())

    wait_for(all_sent, timeout=30, what="the waiting requests to be sent")
    sent_s = time.monotonic() - up_at
    for name, job in waiting.items():
        done = wait_for(lambda j=job: finished(j.id), 120, f"{name}'s sync")
        assert done.status == "succeeded", (name, done.error, app_processes.log("worker"))
        assert done.message_id == job.message_id  # the very request made during the outage
        assert_library_is_spotifys(user(name), demo_spotify.catalog, name)
    done_s = time.monotonic() - up_at
    wait_for(lambda: cleo.get("/healthz").status_code == 200, 30, "/healthz to answer 200")
    assert cleo.sync()["delayed"] is False
    assert DELAYED not in cleo.get("/").text
    assert not JobRun.select().where(JobRun.status.in_(ACTIVE)).count()
    assert {n: app_processes.members(n) for n in processes} == processes, "a process restarted"
    assert "unhandled error" not in app_processes.log("web")
    client = redis.Redis.from_url(own_redis.url)
    namespace = app_processes.env["REDIS_NAMESPACE"]

    def bulk_worker_listed() -> bool:
        return any("bulk" in w.queues for w in live_workers(RedisRef(client, namespace)))

    wait_for(bulk_worker_listed, 15, "the worker started during the outage to list itself")
    worker_log_is_clean(app_processes, "worker", "worker-bulk")
    with capsys.disabled():
        print(
            f"outage {outage_s:.1f} s, {made_in_outage} requests answered meanwhile; "
            f"the 3 waiting syncs sent {sent_s:.1f} s and done {done_s:.1f} s after Redis "
            "came back"
        )


def test_a_frozen_redis_costs_each_web_process_one_short_timeout_not_one_per_call(
    db, own_redis, app_processes, demo_spotify, capsys
):
    # Given the web and worker processes, and two people signed in and synced.
    app_processes.start("web")
    app_processes.start("worker")
    app_processes.wait_for_web()
    web = app_processes.web_url
    cleo = Browser(web)
    cleo.sign_in(demo_spotify, "cleo")
    Browser(web).sign_in(demo_spotify, "dmitri")
    for name in ("cleo", "dmitri"):
        wait_for(lambda n=name: finished(latest_sync(n).id), 60, f"{name}'s first sync")
    friend = user("dmitri").friend_code
    friend_page = f"/with/{user('dmitri').id}"  # once the code is typed (POST /compare)

    # When Redis freezes (SIGSTOP: connections are accepted, nothing answers)...
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        ask = Answers()
        for round_ in (1, 2):  # the web runs two processes: each may pay one timeout
            ask(f"POST /compare #{round_}", lambda: cleo.post("/compare", {"friend_code": friend}))
            ask(f"GET /with/<id> #{round_}", lambda: cleo.get(friend_page))
            ask(f"GET /api/compare/<code> #{round_}", lambda: cleo.get(f"/api/compare/{friend}"))
            ask(f"GET / #{round_}", lambda: cleo.get("/"))
        ask("POST /refresh (htmx)", lambda: cleo.post("/refresh", headers={"HX-Request": "true"}))
        ask("GET /healthz", lambda: cleo.get("/healthz"))
        job = latest_sync("cleo")
        kept = job.status == "queued" and job.sent_at is None
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - frozen_at)))
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    thawed_at = time.monotonic()
    with capsys.disabled():
        print(f"\nwhile Redis was frozen:\n{ask.report()}")

    # ...then no page waits for more than one timeout of Redis (not one per Redis call),
    # and none fails: a request to sync is kept and the page says the work is delayed.
    for label, (answer, seconds) in ask.seen.items():
        assert seconds < ANSWER_TIMEOUT_S + 1, (label, seconds)
        expected = 503 if label == "GET /healthz" else (303 if "POST /compare" in label else 200)
        assert answer.status_code == expected, (label, answer.status_code, answer.text[:300])
    # Each web process paid one timeout per pause of PAUSE_S, not one per call: counted
    # from their logs, not summed from the clock, which a loaded machine stretches.
    timeouts = Counter(re.findall(r"web process (\d+) skips it", app_processes.log("web")))
    per_process = 1 + int((thawed_at - frozen_at) // PAUSE_S)
    assert timeouts and max(timeouts.values()) <= per_process, (timeouts, per_process)
    waited = sum(seconds for _, seconds in ask.seen.values())
    assert DELAYED in ask.seen["POST /refresh (htmx)"][0].text
    assert kept, (job, job.sent_at)

    # And when Redis thaws, the kept request is sent and runs.
    wait_for(lambda: cleo.get("/healthz").status_code == 200, 30, "/healthz to answer 200")
    done = wait_for(lambda: finished(job.id), 120, "the sync asked for while Redis was frozen")
    assert done.status == "succeeded", done.error
    assert_library_is_spotifys(user("cleo"), demo_spotify.catalog, "cleo")
    with capsys.disabled():
        print(
            f"frozen {thawed_at - frozen_at:.1f} s; {len(ask.seen)} requests waited "
            f"{waited:.1f} s in all; the kept sync succeeded {time.monotonic() - thawed_at:.1f} s "
            "after the thaw"
        )


@pytest.mark.slow
def test_a_sync_running_when_redis_restarts_finishes_on_the_same_worker_which_keeps_working(
    db, own_redis, app_processes, demo_spotify, capsys
):
    # Given ana's large sync running on a worker, slowly enough to be cut in the middle...
    app_processes.env["SPOTIFY_API_RATE"] = "10"
    demo_spotify.set_faults(latency_ms=40)
    app_processes.start("web")
    app_processes.start("worker")
    app_processes.wait_for_web()
    client = redis.Redis.from_url(own_redis.url)
    namespace = app_processes.env["REDIS_NAMESPACE"]
    cleo = Browser(app_processes.web_url)
    cleo.sign_in(demo_spotify, "cleo")
    wait_for(lambda: finished(latest_sync("cleo").id), 60, "cleo's first sync")
    ana = Browser(app_processes.web_url)
    ana.sign_in(demo_spotify, "ana")
    job = latest_sync("ana")
    wait_for(lambda: JobRun.get_by_id(job.id).pages_loaded >= 20, 120, "20 pages of ana's sync")
    # ...and cleo's next sync waiting to retry in a few seconds, its message already fetched
    # by the worker (which holds a delayed message in memory until it is due).
    deferred = defer_a_sync(app_processes.env, user("cleo"), seconds=6)
    wait_for(lambda: not client.llen(f"{namespace}:interactive.DQ"), 10, "the worker to fetch it")
    worker = app_processes.members("worker")

    # When Redis stops in the middle of it, and starts again empty...
    own_redis.stop()
    down_at = time.monotonic()
    # (the attempt fails on Redis, and so does the send of its retry: the row keeps it)
    interrupted = wait_for(
        lambda: (j := JobRun.get_by_id(job.id)).status == "retrying" and j.sent_at is None and j,
        timeout=30,
        what="the attempt to stop and wait for Redis, unsent",
    )
    at_outage = interrupted.pages_loaded
    assert ana.sync()["delayed"] is True
    time.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
    own_redis.start()
    up_at = time.monotonic()

    # ...then the same worker process goes on from the checkpoint, and the sync succeeds;
    # cleo's retry, whose message the worker dropped with its connection, runs too.
    retried = wait_for(lambda: finished(deferred.id), 120, "cleo's deferred sync to end")
    retried_s = time.monotonic() - up_at
    assert retried.status == "succeeded", retried.error
    done = wait_for(lambda: finished(job.id), 240, "ana's sync to end")
    done_s = time.monotonic() - up_at
    assert done.status == "succeeded", (done.error, app_processes.log("worker"))
    assert at_outage < done.pages_total and done.pages_loaded == done.pages_total
    assert done.attempts >= 2
    assert_library_is_spotifys(user("ana"), demo_spotify.catalog, "ana")
    assert app_processes.members("worker") == worker, "the worker was restarted"

    # And its middleware threads all came through: it lists itself and counts its jobs...
    ref = RedisRef(client, namespace)
    wait_for(lambda: live_workers(ref), 15, "the worker to list itself again")
    wait_for(lambda: job_totals(ref).get("update_user"), 15, "the job counters in Redis")
    # ...and it honours a paused queue, then its resume: shown with cleo's small library
    # (a second sync of ana's 170 pages at 10 a second, on a loaded machine, took this test
    # past its time limit, and adds nothing to what is shown).
    pause_queue(ref, "interactive")
    time.sleep(2.5)  # the workers read the paused set every second
    assert cleo.post("/refresh").status_code == 303
    paused_job = latest_sync("cleo")
    assert paused_job.id != deferred.id
    time.sleep(4)
    assert JobRun.get_by_id(paused_job.id).status == "queued"
    resume_queue(ref, "interactive")
    again = wait_for(lambda: finished(paused_job.id), 240, "the sync after the resume")
    assert again.status == "succeeded", again.error
    worker_log_is_clean(app_processes)
    with capsys.disabled():
        print(
            f"\nRedis down {up_at - down_at:.1f} s at page {at_outage} of {done.pages_total}; "
            f"the sync succeeded {done_s:.1f} s after Redis came back, in {done.attempts} "
            "attempts, on the same worker process; cleo's retry that the worker had dropped "
            f"succeeded {retried_s:.1f} s after Redis came back"
        )


@pytest.mark.slow
def test_the_scheduler_outlives_a_redis_outage_over_its_tick_and_recovery_runs_after_it(
    db, own_redis, app_processes, capsys
):
    # Given the scheduler holding its lease, and a worker.
    scheduler = app_processes.start("scheduler")
    app_processes.start("worker")
    client = redis.Redis.from_url(own_redis.url)
    namespace = app_processes.env["REDIS_NAMESPACE"]
    ref = RedisRef(client, namespace)
    wait_for(lambda: scheduler_status(ref)["holder"], 60, "the scheduler's lease")

    # When Redis is down over a minute's tick (periodiq sends every periodic job then)...
    second = dt.datetime.now(dt.UTC).second
    time.sleep((52 - second) % 60)
    own_redis.stop()
    down_at = time.monotonic()
    missed = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    while dt.datetime.now(dt.UTC) < missed + dt.timedelta(seconds=4):
        time.sleep(0.2)
    assert scheduler.poll() is None, app_processes.log("scheduler")
    own_redis.start()
    up_at = time.monotonic()

    # ...then the scheduler keeps running, takes its lease again, and sends the next tick,
    # which a worker runs.
    def recovered() -> dict | None:
        status = scheduler_status(ref)
        ran = status["last_recovery_at"]
        return status if ran and status["last_tick"] and status["last_tick"] > missed else None

    status = wait_for(recovered, timeout=90, what="the next recovery tick to run")
    assert status["holder"] is not None
    assert scheduler.poll() is None, app_processes.log("scheduler")
    with capsys.disabled():
        print(
            f"\nRedis down {up_at - down_at:.1f} s over the tick of {missed:%H:%M}; "
            f"the scheduler kept running and the tick of {status['last_tick']:%H:%M} ran "
            f"{time.monotonic() - up_at:.1f} s after Redis came back"
        )
