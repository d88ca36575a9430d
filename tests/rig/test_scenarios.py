"""The whole app on the rig's hosts (``stack.py``), one stack for the module, and what only
several machines meet: two worker hosts sharing one rate limit (a), Redis restarting under
them (g), the scheduler's host dying (e), a worker host cut off for a minute (c), a worker
host dying mid-sync (d), worker hosts whose clocks are 120 s off (f), and, for f too, the
web host's scheduler 120 s behind and the retention and the recovery run on the skewed
worker hosts. Each scenario ends exact: every library is the demo Spotify's, every
comparison complete and correct, no job row twice, nothing lost.

The scenarios run in this file's order on one stack (it starts in about half a minute):
each leaves every process running as it found it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from peewee import fn

from actors.scheduler_lease import scheduler_status, tick_key
from actors.testing import assert_library_is_spotifys, wait_for
from jobs.queueing import QUEUES
from models import ArtistListeners, JobRun, current_month
from models.db import utcnow
from models.job_run import ACTIVE, FINISHED, HEARTBEAT_TIMEOUT
from ops.clock_watch import process_clocks, reports_key
from ops.counters import job_totals
from ops.workers import live_workers
from spotify_demo.building import build_catalog
from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify
from tests.faults.test_redis_outage import Browser, latest_sync, user
from tests.faults.test_spotify_faults import artists_of, listener_rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

API_RATE, PAGES_RATE = 10, 10
SCALE = 0.25
STACK_ENV = {
    # Low rates, so that every worker thread on both hosts waits at the gate: what the demo
    # sees in a second is then the gate's doing alone.
    "SPOTIFY_API_RATE": str(API_RATE),
    "SPOTIFY_PAGES_RATE": str(PAGES_RATE),
    # A quarter of each library: ben's sync and the refresh last tens of seconds, not minutes.
    "DEMO_SPOTIFY_SCALE": str(SCALE),
    "REFRESH_COOLDOWN_SECONDS": "0",
}
STACK_OPTIONS = {"standby_scheduler": True}


@pytest.fixture(scope="module")
def demo(stack) -> DemoSpotify:
    """The demo Spotify on the ``spotify`` host, and the catalog it serves (its truth)."""
    config = DemoConfig(scale=SCALE)
    return DemoSpotify(stack.spotify_url, config, build_catalog(config.seed, SCALE))


def figures(test: str, **values) -> None:
    """Print a scenario's figures for the README (seen with ``pytest -s``)."""
    print(f"\nFIGURES {test}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


def synced(browser: Browser, demo: DemoSpotify, spotify_id: str, timeout: float = 300) -> JobRun:
    """Sign ``spotify_id`` in on ``browser``; their first sync once it has ended well."""
    browser.sign_in(demo, spotify_id)
    job = latest_sync(spotify_id)
    done = wait_for(lambda: _finished(job.id), timeout, f"{spotify_id}'s sync")
    assert done.status == "succeeded", (spotify_id, done.error)
    return done


def _finished(job_id: int) -> JobRun | None:
    job = JobRun.get_by_id(job_id)
    return job if job.status in FINISHED else None


def assert_counts_are_spotifys(demo: DemoSpotify, spotify_ids: list[str], timeout: float) -> None:
    """Every artist of these people ends with the demo's count for this month."""
    expected = set().union(*(artists_of(demo.catalog, s) for s in spotify_ids))
    wait_for(lambda: set(listener_rows()) >= expected, timeout, "every listener count")
    rows = listener_rows()
    assert {s: rows[s] for s in expected} == {
        s: demo.catalog.monthly_listeners(s) for s in expected
    }


# Pages sent by threads at exact times one slot apart (the gate's interval), without the
# gate or the app: what the demo sees then is the machine's own jitter.
EVEN = """
import sys, threading, time, requests
base, rate, seconds, ids = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
interval, count = 1 / (rate * 0.98), int(seconds * rate * 0.98)
start = time.monotonic() + 0.5
def send(first):
    session = requests.Session()
    for i in range(first, count, 4):
        time.sleep(max(0.0, start + i * interval - time.monotonic()))
        session.get(f"{base}/open/artist/{ids[i % len(ids)]}", timeout=30)
threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def evenly_spaced_pages(stack, demo: DemoSpotify, rate: float, seconds: float) -> int:
    """The busiest second the demo sees of pages sent exactly one slot apart from
    ``worker-1``."""
    demo.reset()
    ids = sorted(artist.id for artist in demo.catalog.artists)[:50]
    argv = ["ip", "netns", "exec", stack.rig.namespace("worker-1"), sys.executable, "-c", EVEN,
            stack.spotify_url, str(rate), str(seconds), *ids]  # fmt: skip
    subprocess.run(argv, check=True, timeout=seconds + 60, capture_output=True)
    return int(demo.stats()["busiest_second"]["open"])


def assert_no_job_row_twice() -> None:
    """Every message has one row, nothing is still active, and nothing failed."""
    rows = list(JobRun.select(JobRun.message_id, JobRun.status, JobRun.actor))
    ids = [row.message_id for row in rows]
    assert len(ids) == len(set(ids)), "a message has two job rows"
    assert [r for r in rows if r.status in ACTIVE] == []
    assert [r for r in rows if r.status == "failed"] == []


def assert_comparison_is_exact(browser: Browser, demo: DemoSpotify, me: str, friend: str) -> None:
    """The comparison of ``me`` with ``friend`` is complete and says what the truth says."""
    code = user(friend).friend_code
    browser.get("/")
    assert browser.post("/compare", {"friend_code": code}).status_code == 303

    last: list[dict] = []

    def complete() -> dict | None:
        answer = browser.get(f"/api/compare/{code}", params={"limit": 500})
        assert answer.status_code == 200, answer.text
        last[:] = [answer.json()]
        return answer.json() if answer.json()["complete"] else None

    try:
        compared = wait_for(complete, 120, f"{me}'s comparison with {friend} to complete")
    except AssertionError:
        seen = {k: v for k, v in last[0].items() if k not in ("shared", "only_me", "only_friend")}
        pending = [a["spotify_id"] for a in last[0]["shared"] if a["pending"]]
        stats = demo.stats()
        raise AssertionError(f"incomplete: {seen}, pending {pending[:20]}, {stats}") from None
    mine, theirs = artists_of(demo.catalog, me), artists_of(demo.catalog, friend)
    assert compared["pending_shared"] == 0
    assert compared["shared_count"] == len(mine & theirs)
    assert compared["union_count"] == len(mine | theirs)
    shown = {a["spotify_id"]: a["monthly_listeners"] for a in compared["shared"]}
    assert shown == {s: demo.catalog.monthly_listeners(s) for s in mine & theirs}


# -- a. Shared work -----------------------------------------------------------------------------


def test_two_worker_hosts_share_a_sync_and_a_refresh_within_one_hosts_rate(stack, demo):
    # Given cleo and dmitri synced, with every listener count of this month...
    cleo, dmitri, ben = (Browser(stack.web_url) for _ in range(3))
    synced(cleo, demo, "cleo")
    synced(dmitri, demo, "dmitri")
    assert_counts_are_spotifys(demo, ["cleo", "dmitri"], 120)
    # ...then read in an earlier month (so the monthly refresh has them all to read again):
    refreshed = (
        ArtistListeners.update(month="2000-01")
        .where(ArtistListeners.month == current_month())
        .execute()
    )
    demo.reset()  # the counters from here on
    # (and Spotify's own rule: at most 30 s of each rate in any rolling 30 s, else a 429)
    demo.set_faults(rate_limit=API_RATE * 30, pages_rate_limit=PAGES_RATE * 30)

    # When ben's sync and a monthly refresh run at once, on whichever worker takes them...
    started = time.monotonic()
    ben.sign_in(demo, "ben")
    stack.overlap("refresh-listeners")
    job = latest_sync("ben")
    done = wait_for(lambda: _finished(job.id), 300, "ben's sync")
    assert done.status == "succeeded", done.error
    assert_counts_are_spotifys(demo, ["cleo", "dmitri", "ben"], 400)
    elapsed = time.monotonic() - started
    stats = demo.stats()

    # ...then every library and count is the demo's, the comparison is exact,
    for name in ("cleo", "dmitri", "ben"):
        assert_library_is_spotifys(user(name), demo.catalog, name)
    assert_comparison_is_exact(cleo, demo, "cleo", "dmitri")
    assert_comparison_is_exact(ben, demo, "ben", "cleo")
    assert_no_job_row_twice()
    # both worker hosts did the work,
    by_host = {
        host: stats["clients"].get(stack.rig.address[host], 0) for host in ("worker-1", "worker-2")
    }
    assert all(by_host.values()), by_host
    # and the two hosts' requests kept to one rate: no 429 from Spotify's rolling 30 s
    # window, which two gates of their own would each fill (twice the rate)...
    assert stats["rate_limited"] == 0, stats
    thirty = stats["busiest_30_seconds"]
    assert thirty["api"] <= 30 * API_RATE and thirty["open"] <= 30 * PAGES_RATE, thirty
    # ...and, second by second, well under two hosts' worth. (The gate's slots allow 10
    # a second; what the demo sees is more by the arrivals' jitter: see the control below.)
    busiest = stats["busiest_second"]
    assert busiest["api"] < 1.5 * API_RATE and busiest["open"] < 1.5 * PAGES_RATE, busiest
    # The control: one thread sending pages exactly one slot apart, from one host.
    control = evenly_spaced_pages(stack, demo, PAGES_RATE, seconds=10)
    figures(
        "shared-work",
        refreshed=refreshed,
        requests=stats["requests"],
        by_host=by_host,
        busiest_second={k: busiest[k] for k in ("api", "open")},
        busiest_30_seconds={k: thirty[k] for k in ("api", "open")},
        control_busiest_second=control,
        load=round(os.getloadavg()[0], 1),
        rates={"api": API_RATE, "open": PAGES_RATE},
        seconds=round(elapsed, 1),
    )


# -- g. Redis restart ---------------------------------------------------------------------------


def test_a_sync_outlives_redis_restarting_empty_and_every_worker_goes_on_by_itself(stack, demo):
    # Given cleo synced, and ana's sync under way, slowly enough to be cut in the middle...
    cleo, ana = Browser(stack.web_url), Browser(stack.web_url)
    synced(cleo, demo, "cleo")
    demo.set_faults(latency_ms=150)
    ana.sign_in(demo, "ana")
    job = latest_sync("ana")
    wait_for(lambda: JobRun.get_by_id(job.id).pages_loaded >= 5, 120, "5 pages of ana's sync")
    ref = stack.redis_ref()
    before = {(w.host, w.pid) for w in live_workers(ref)}

    # When Redis on the data host dies, and starts again on the same address, empty...
    stack.data.stop_redis()
    down_at = time.monotonic()
    at_outage = JobRun.get_by_id(job.id).pages_loaded
    time.sleep(5)
    stack.data.start_redis()
    wait_for(lambda: _pings(ref), 30, "Redis to answer again")
    up_at = time.monotonic()
    demo.set_faults(latency_ms=0)

    # ...then the sync goes on from its checkpoint and ends exact,
    done = wait_for(lambda: _finished(job.id), 300, "ana's sync to end")
    done_s = time.monotonic() - up_at
    assert done.status == "succeeded", (done.error, stack.log("worker-1", "worker"))
    assert at_outage < done.pages_total and done.pages_loaded == done.pages_total
    assert_library_is_spotifys(user("ana"), demo.catalog, "ana")
    # every worker process lists itself again (the same processes: none restarted), the
    # scheduler holds its lease again, and a sync asked for now runs at once;
    wait_for(lambda: {(w.host, w.pid) for w in live_workers(ref)} == before, 30, "the workers")
    wait_for(lambda: scheduler_status(ref)["holder"], 30, "a scheduler's lease")
    assert cleo.post("/refresh").status_code == 303
    again = wait_for(lambda: _finished(latest_sync("cleo").id), 120, "cleo's sync after it")
    assert again.status == "succeeded", again.error
    # and what Redis lost (the listener counts ana's earlier pages asked for) is found again
    # in the database: the monthly refresh's next pass (its daily tick; here by hand) sends
    # every artist without this month's count, so every count comes, and the comparison is
    # complete and exact.
    missing = len(artists_of(demo.catalog, "ana") - set(listener_rows()))
    stack.overlap("refresh-listeners")
    assert_counts_are_spotifys(demo, ["ana", "cleo"], 400)
    assert_comparison_is_exact(ana, demo, "ana", "cleo")
    assert_no_job_row_twice()
    for process in stack.running.values():
        assert process.poll() is None or process.args[-1].endswith("db upgrade")
    ref.client.close()
    figures(
        "redis-restart",
        down_s=round(up_at - down_at, 1),
        at_page=f"{at_outage}/{done.pages_total}",
        attempts=done.attempts,
        sync_done_after_s=round(done_s, 1),
        counts_pending_after_sync=missing,
    )


def _pings(ref) -> bool:
    try:
        return bool(ref.client.ping())
    except Exception:  # noqa: BLE001 - any failure to answer is "not yet"
        return False


# -- e. Scheduler failover ----------------------------------------------------------------------


def test_the_standby_scheduler_sends_the_next_tick_once_when_the_web_hosts_scheduler_dies(stack):
    ref = stack.redis_ref()
    # Given the scheduler on web holding the lease (the standby on worker-2 only waits)...
    if not str(scheduler_status(ref)["holder"]).startswith("web:"):
        stack.kill("worker-2", "scheduler")
        wait_for(lambda: str(scheduler_status(ref)["holder"]).startswith("web:"), 40, "web's lease")
        stack.start_line("worker-2", "scheduler")
    # ...and this minute's ticks done: the counts of the periodic jobs run so far.
    now = _utc_now()
    wait_s = (30 - now.second) % 60
    time.sleep(wait_s)
    first = _utc_now().replace(second=0, microsecond=0)
    ran = _periodic_runs(ref)

    # When the web host's scheduler is SIGKILLed ten seconds before the next minute...
    time.sleep(max(0.0, 50 - _utc_now().second))
    stack.kill("web", "scheduler")
    killed_at = time.monotonic()
    # ...then worker-2's standby takes the lease and sends the next tick,
    holder = wait_for(
        lambda: (
            str(scheduler_status(ref)["holder"] or "").startswith("worker-2:")
            and scheduler_status(ref)["holder"]
        ),
        60,
        "the standby to take the lease",
    )
    took_s = time.monotonic() - killed_at
    # and, two minutes on, every minute's tick went out exactly once: the first by web,
    # the next ones by worker-2 (the tick of the minute it took over included).
    minutes = [first + dt.timedelta(minutes=n) for n in range(3)]
    while _utc_now() < minutes[-1] + dt.timedelta(seconds=40):
        time.sleep(1)
    senders = {
        actor: [_tick_sender(ref, actor, minute) for minute in minutes]
        for actor in ("recover", "refresh_slice")
    }
    for actor, by_minute in senders.items():
        assert [s.split(":")[0] if s else None for s in by_minute] == [
            "web",
            "worker-2",
            "worker-2",
        ], (actor, by_minute)
    after = _periodic_runs(ref)
    assert {a: after[a] - ran[a] for a in ran} == {"recover": 2, "refresh_slice": 2}
    # And the web's scheduler, started again, stands by.
    stack.start_line("web", "scheduler")
    time.sleep(10)
    assert scheduler_status(ref)["holder"] == holder
    ref.client.close()
    figures("scheduler-failover", lease_taken_after_kill_s=round(took_s, 1), holder=holder)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tick_sender(ref, actor: str, minute: dt.datetime) -> str | None:
    """The token of the scheduler that claimed ``actor``'s tick of ``minute``."""
    value = ref.client.get(tick_key(ref, actor, minute))
    return value.decode() if value else None


def _periodic_runs(ref) -> dict[str, int]:
    """How many ``recover`` and ``refresh_slice`` messages the workers have processed."""
    time.sleep(2)  # the workers add their counts to Redis once a second
    totals = job_totals(ref)
    return {a: totals[a].processed if a in totals else 0 for a in ("recover", "refresh_slice")}


# -- c. Partition -------------------------------------------------------------------------------

CUT_S = 60


def test_a_worker_host_cut_off_for_a_minute_mid_sync_hands_its_sync_over_and_fails_nothing(
    stack, demo
):
    ref = stack.redis_ref()
    ana = Browser(stack.web_url)
    ana.sign_in(demo, "ana")
    # Given ana's sync running on worker-1 (worker-2's interactive worker stopped meanwhile),
    stack.terminate("worker-2", "worker")
    wait_for(lambda: len(live_workers(ref)) == 3, 60, "worker-2's worker to stop")
    demo.set_faults(latency_ms=300)
    assert ana.post("/refresh").status_code == 303
    job = latest_sync("ana")
    wait_for(lambda: JobRun.get_by_id(job.id).pages_loaded >= 3, 120, "3 pages of ana's sync")
    stack.start_line("worker-2", "worker")
    wait_for(lambda: len(live_workers(ref)) == 4, 60, "worker-2's worker to start again")
    held_at = JobRun.get_by_id(job.id).pages_loaded

    # When worker-1 is cut off from every other host for a minute, then joins again...
    stack.rig.link("worker-1", up=False)
    cut_at = time.monotonic()
    try:
        time.sleep(CUT_S)
    finally:
        stack.rig.link("worker-1", up=True)
    demo.set_faults(latency_ms=0)

    # ...then worker-2 finishes the sync worker-1 held, and it ends exact, once:
    done = wait_for(lambda: _finished(job.id), 300, "ana's sync to end")
    done_s = time.monotonic() - cut_at
    assert done.status == "succeeded", (done.error, stack.log("worker-1", "worker"))
    assert held_at < done.pages_total and done.pages_loaded == done.pages_total
    assert_library_is_spotifys(user("ana"), demo.catalog, "ana")
    time.sleep(20)  # worker-1's stalled thread, if any, has its connections back by now
    ended = {
        host: stack.log(host, "worker", whole=True).count(f"update_user job {job.id} succeeded")
        for host in ("worker-1", "worker-2")
    }
    assert ended == {"worker-1": 0, "worker-2": 1}, ended
    # (worker-1's own attempt, back with its connections, stopped at its next checkpoint:
    # none ran on to its end beside worker-2's)
    worker_1 = stack.log("worker-1", "worker", whole=True)
    assert "succeeded, but another worker took the run over" not in worker_1
    stopped = "was taken over by another worker" in worker_1
    assert JobRun.get_by_id(job.id).status == "succeeded"
    assert_no_job_row_twice()
    # and worker-1's processes came through the cut and list themselves again.
    wait_for(lambda: len(live_workers(ref)) == 4, 60, "worker-1's workers listed again")
    assert all(p.poll() is None for (h, _), p in stack.running.items() if h == "worker-1")
    ref.client.close()
    figures(
        "partition",
        cut_s=CUT_S,
        held_at_page=f"{held_at}/{done.pages_total}",
        attempts=done.attempts,
        done_after_cut_s=round(done_s, 1),
        worker_1_stopped_at_its_checkpoint=stopped,
    )


# -- d. A host dies -----------------------------------------------------------------------------

# Issue 21's bound, from the kill to the other host's claim of the job.
RESUMES_WITHIN_S = 10.0
WORKER_HOSTS = ("worker-1", "worker-2")


def test_every_process_of_the_worker_host_running_a_sync_sigkilled_and_the_other_takes_it_up(
    stack, demo
):
    started = time.monotonic()
    ref = stack.redis_ref()
    ana, cleo = Browser(stack.web_url), Browser(stack.web_url)
    synced(cleo, demo, "cleo")
    synced(ana, demo, "ana")
    # Given ana's sync running on worker-1 (worker-2's interactive worker stopped meanwhile)...
    job, held_at = sync_held_by(stack, ref, ana, demo, "ana", "worker-1")
    before = JobRun.get_by_id(job.id)

    # When every process of worker-1 (its worker and worker-bulk) is SIGKILLed at once, as
    # if the machine died...
    stack.rig.kill_host("worker-1")
    killed_at = time.monotonic()
    assert all(p.poll() is not None for (h, _), p in stack.running.items() if h == "worker-1")

    # ...then worker-2 claims the sync (from its checkpoint),
    wait_for(
        lambda: (
            (row := JobRun.get_by_id(job.id)).attempts > before.attempts and row.status == "running"
        ),
        60,
        "worker-2 to take ana's sync up",
    )
    resumed_s = time.monotonic() - killed_at
    demo.set_faults(latency_ms=0)
    # and it ends exact, run to its end once, by worker-2:
    done = wait_for(lambda: _finished(job.id), 300, "ana's sync to end")
    done_s = time.monotonic() - killed_at
    assert done.status == "succeeded", (done.error, stack.log("worker-2", "worker"))
    assert done.attempts == before.attempts + 1
    assert before.pages_loaded < done.pages_total and done.pages_loaded == done.pages_total
    ended = stack.log("worker-2", "worker", whole=True).count(f"update_user job {job.id} succeeded")
    assert ended == 1, stack.log("worker-2", "worker")
    assert_exact_and_nothing_lost(ref, demo, ana)
    # And worker-1, booted again, lists two new processes beside worker-2's.
    restart_host(stack, ref, "worker-1")
    ref.client.close()
    figures(
        "host-death",
        held_at_page=f"{held_at}/{done.pages_total}",
        killed_at_page=before.pages_loaded,
        claimed_after_kill_s=round(resumed_s, 1),
        done_after_kill_s=round(done_s, 1),
        attempts=done.attempts,
        load=round(os.getloadavg()[0], 1),
        wall_s=round(time.monotonic() - started, 1),
    )
    assert resumed_s < RESUMES_WITHIN_S, resumed_s


def sync_held_by(
    stack, ref, browser: Browser, demo: DemoSpotify, spotify_id: str, host: str
) -> tuple[JobRun, int]:
    """A new sync of ``spotify_id`` running on ``host``'s interactive worker (the other
    host's is stopped until it runs), slowed down (500 ms an answer) so that it lasts; and
    the page it was at once the other host's worker was back."""
    other = next(h for h in WORKER_HOSTS if h != host)
    listed = {w.pid for w in live_workers(ref)}
    stack.terminate(other, "worker")
    wait_for(lambda: len(live_workers(ref)) == 3, 60, f"{other}'s worker to stop")
    demo.set_faults(latency_ms=500)
    assert browser.post("/refresh").status_code == 303
    job = latest_sync(spotify_id)
    wait_for(lambda: JobRun.get_by_id(job.id).pages_loaded >= 3, 120, "3 pages of the sync")
    stack.start_line(other, "worker")
    wait_for(lambda: [w for w in live_workers(ref) if w.host == other and w.pid not in listed],
             60, f"{other}'s worker to start again")  # fmt: skip
    # (each worker writes what it runs into its entry every 5 s)
    wait_for(lambda: job.message_id in _running_on(ref, host), 15, f"{host} to list the sync",
             seen=lambda: _running_on(ref, host))  # fmt: skip
    row = JobRun.get_by_id(job.id)
    assert row.status == "running" and row.pages_loaded < (row.pages_total or 0), row.__data__
    return job, row.pages_loaded


def _running_on(ref, host: str) -> set[str]:
    """The ids of the messages ``host``'s workers list as running."""
    return {c.message_id for w in live_workers(ref) if w.host == host for c in w.current}


def assert_exact_and_nothing_lost(ref, demo: DemoSpotify, ana: Browser) -> None:
    """ana's library, counts and comparison with cleo are the demo's; no job row twice,
    none failed; no message dead-lettered."""
    assert_library_is_spotifys(user("ana"), demo.catalog, "ana")
    assert_counts_are_spotifys(demo, ["ana", "cleo"], 300)
    assert_comparison_is_exact(ana, demo, "ana", "cleo")
    assert_no_job_row_twice()
    dead = {q: ref.client.zcard(f"{ref.namespace}:{q}.XQ") for q in QUEUES}
    assert not any(dead.values()), dead


def restart_host(stack, ref, host: str) -> None:
    """Start ``host``'s worker lines again; wait until both list themselves (new pids)."""
    gone = {w.pid for w in live_workers(ref) if w.host == host}
    for line in ("worker", "worker-bulk"):
        stack.start_line(host, line)
    wait_for(
        lambda: len([w for w in live_workers(ref) if w.host == host and w.pid not in gone]) == 2,
        90,
        f"{host}'s workers to boot again",
    )
    wait_for(lambda: len(live_workers(ref)) == 4, 30, f"{host}'s dead entries to expire")


# The clock scenarios set a host's clock with libfaketime (stack.py, as conftest.py loaded it).
needs_libfaketime = pytest.mark.skipif(
    sys.modules["rig_stack"].libfaketime() is None, reason="needs Debian's libfaketime"
)


# -- f. Clock skew ------------------------------------------------------------------------------

SKEWS = {"worker-1": "+120s", "worker-2": "-120s"}
# ana's sync takes seconds on one worker here; far more means it went wrong.
SYNC_WITHIN_S = 240


@needs_libfaketime
def test_worker_hosts_120_s_off_fetch_nothing_and_a_right_hosts_sync_ends_exact(stack, demo):
    started = time.monotonic()
    ref = stack.redis_ref()
    holder, first_job = scheduler_status(ref)["holder"], _next_job_id()
    # Given worker-1's clock 120 s ahead and worker-2's 120 s behind (their worker lines
    # started again under faketime), with a worker whose clock is right on the web host...
    restart_worker_lines(stack, ref, SKEWS)
    held = wait_for(lambda: len(_held(ref)) == 4 and _held(ref), 90, "4 held workers")
    # Within the round trip to Redis of the 120 s set, each process (Redis's minus the host's).
    offsets = sorted((w.host, round(w.clock_offset or 0, 1)) for w in held)
    assert [h for h, _ in offsets] == sorted(WORKER_HOSTS * 2), offsets
    assert all(118 < abs(o) < 122 and (o < 0) == (h == "worker-1") for h, o in offsets), offsets
    stack.start_line("web", "worker")
    wait_for(lambda: len(live_workers(ref)) == 5, 90, "the web host's worker")

    # When ana's sync and emma's first one are asked for (the scheduler sends its recovery
    # every minute meanwhile)...
    # (300 ms an answer: ana's sync lasts about 20 s, every worker polling meanwhile)
    demo.set_faults(latency_ms=300)
    ana, emma = Browser(stack.web_url), Browser(stack.web_url)
    asked = time.monotonic()
    ana.sign_in(demo, "ana")
    assert ana.post("/refresh").status_code == 303
    emma.sign_in(demo, "emma")
    jobs = [latest_sync("ana"), latest_sync("emma")]
    watched = watch_syncs(jobs, asked)
    demo.set_faults(latency_ms=0)

    # Then both end exact, each run once (no message taken from its live worker, none
    # recovered while it ran), by the web host's worker alone:
    done = [JobRun.get_by_id(job.id) for job in jobs]
    assert [d.status for d in done] == ["succeeded"] * 2, stack.log("web", "worker")
    for row, name in zip(done, ("ana", "emma"), strict=True):
        assert_library_is_spotifys(user(name), demo.catalog, name)
        assert row.pages_loaded == row.pages_total
    assert_run_once_by_the_right_worker(stack, ref, first_job)
    # ...on one clock: no ETA in the past or beyond the whole wait, durations within it.
    assert watched["etas"] and all(-5 < e < SYNC_WITHIN_S for e in watched["etas"]), watched
    durations = [(d.finished_at - d.started_at).total_seconds() for d in done]
    assert all(0 < d <= watched["took"] + 1 for d in durations), (durations, watched)
    # The skewed hosts said why, in their logs, on the dashboard and in /metrics.
    assert_skewed_hosts_say_why(stack, emma)
    assert scheduler_status(ref)["holder"] == holder, "the scheduler's lease changed hands"
    # And with their clocks right again, the hosts fetch again (as the next scenario expects).
    stack.terminate("web", "worker")
    restart_worker_lines(stack, ref, {})
    wait_for(lambda: not _held(ref), 60, "every worker to fetch again", seen=lambda: _held(ref))
    ref.client.close()
    figures(
        "clock-skew",
        offsets=offsets,
        pages=[d.pages_total for d in done],
        durations_s=[round(d, 1) for d in durations],
        asked_to_done_s=round(watched["took"], 1),
        samples=watched["samples"],
        load=round(os.getloadavg()[0], 1),
        wall_s=round(time.monotonic() - started, 1),
    )


def _next_job_id() -> int:
    return (JobRun.select(fn.MAX(JobRun.id)).scalar() or 0) + 1


def _held(ref) -> list:
    return [w for w in live_workers(ref) if w.clock_held]


def restart_worker_lines(stack, ref, skews: dict[str, str]) -> None:
    """Stop both worker hosts' lines (SIGTERM, as a deploy), start them again with these
    clock offsets, and wait until the four list themselves."""
    lines = [(host, line) for host in WORKER_HOSTS for line in ("worker", "worker-bulk")]
    for host, line in lines:
        stack.running[(host, line)].send_signal(signal.SIGTERM)
    for host, line in lines:
        stack.running[(host, line)].wait(60)
    stack.skews = dict(skews)
    for host, line in lines:
        stack.start_line(host, line)
    wait_for(
        lambda: (
            sorted(w.host for w in live_workers(ref) if w.host in WORKER_HOSTS)
            == sorted(WORKER_HOSTS * 2)
        ),
        90,
        "both worker hosts' lines to list themselves",
    )


def watch_syncs(jobs: list[JobRun], asked: float) -> dict:
    """Until the syncs end: each second, that none looks dead to a claim (no heartbeat for
    ``HEARTBEAT_TIMEOUT``, far less than the recovery waits), and each running one's ETA."""
    etas: list[float] = []
    samples = 0
    while not all(_finished(job.id) for job in jobs):
        assert time.monotonic() - asked < SYNC_WITHIN_S, [j.id for j in jobs]
        stale = {j.id for j in JobRun.stale_running(utcnow() - HEARTBEAT_TIMEOUT)}
        assert not stale & {job.id for job in jobs}, stale
        for job in jobs:
            row = JobRun.get_by_id(job.id)
            if row.status == "running" and row.eta_at is not None:
                etas.append((row.eta_at - utcnow()).total_seconds())
        samples += 1
        time.sleep(1)
    return {"etas": etas, "took": time.monotonic() - asked, "samples": samples}


def assert_run_once_by_the_right_worker(stack, ref, first_job: int) -> None:
    """Every job since ``first_job`` ran once, by the web host's worker; the skewed ones
    processed nothing; no recovery found a live job to send again."""
    rows = list(JobRun.select().where(JobRun.id >= first_job))
    assert rows and all(r.attempts == 1 for r in rows), [(r.id, r.attempts) for r in rows]
    workers = live_workers(ref)
    skewed = {(w.host, w.processed) for w in workers if w.clock_held}
    assert skewed and all(processed == 0 for _, processed in skewed), skewed
    right = [w for w in workers if not w.clock_held]
    assert [w.host for w in right] == ["web"] and right[0].processed > 0, right
    assert abs(right[0].clock_offset or 0) < 1, right[0]
    for host in ("web", *WORKER_HOSTS):
        log = stack.log(host, "worker", whole=True)
        assert "had no heartbeat since" not in log and "Unexpected failure" not in log, host


def assert_skewed_hosts_say_why(stack, admin: Browser) -> None:
    """One warning line per skewed worker process, naming the way it is off; the
    dashboard's worker list and /metrics (both read as the demo's admin) show them held."""
    for host, way in (("worker-1", "ahead of"), ("worker-2", "behind")):
        for line in ("worker", "worker-bulk"):
            said = [
                text for text in stack.log(host, line, whole=True).splitlines()
                if "fetching nothing until it is set right" in text
            ]  # fmt: skip
            assert len(said) == 1, stack.log(host, line)
            assert "WARNING" in said[0] and f"s {way} Redis's" in said[0], said[0]
    page = admin.get("/admin").text.replace("&#39;", "'")
    assert page.count("ahead of Redis's: fetching nothing") == 2, page
    assert page.count("behind Redis's: fetching nothing") == 2, page
    assert "4 worker processes fetch nothing" in page
    metrics = admin.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    assert "overlap_workers_clock_held 4.0" in metrics.text, metrics.text


# -- f. Clock skew: the scheduler's host ---------------------------------------------------------

SCHEDULER_SKEW_LOG = "it sends no tick until it is set right"


@needs_libfaketime
def test_the_web_hosts_scheduler_120_s_behind_takes_no_lease_and_the_standby_ticks_once(
    stack, demo
):
    started = time.monotonic()
    ref = stack.redis_ref()
    admin = Browser(stack.web_url)
    admin.sign_in(demo, "emma")  # the demo's admin
    # Given no scheduler: the standby on worker-2 killed, the web host's stopped (their
    # lease expires by itself)...
    stack.kill("worker-2", "scheduler")
    stack.terminate("web", "scheduler")
    # ...when the web host's scheduler starts again 120 s behind, alone...
    skewed, log_from = start_skewed_scheduler(stack, ref)
    wait_for(lambda: scheduler_status(ref)["holder"] is None, 30, "the old lease to expire")
    # ...and a minute's tick comes due with the lease free (its periodiq fires at it)...
    soon = _utc_now() + dt.timedelta(seconds=10)  # its periodiq loaded by then
    boundary = soon.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    time.sleep(max(0.0, (boundary - _utc_now()).total_seconds() + 5))
    # (periodiq fires once as it starts, then at each minute on its host's clock)
    wait_for(lambda: _fired(stack, log_from) >= 2, 30, "the skewed scheduler's minute tick")
    # ...then it took no lease (it had every chance), so sent nothing: the minute's tick
    # is still due,
    assert scheduler_status(ref)["holder"] is None, scheduler_status(ref)
    assert _tick_sender(ref, "recover", boundary) is None
    ran = _periodic_runs(ref)
    # and once the standby on worker-2 (clock right) starts, it takes the lease at once
    # (periodiq fires as it starts: this minute's tick, still due) and sends every minute's
    # tick, once, the skewed one firing beside it all along:
    stack.start_line("worker-2", "scheduler")
    minutes = [boundary + dt.timedelta(minutes=n) for n in range(3)]
    while _utc_now() < minutes[-1] + dt.timedelta(seconds=20):
        time.sleep(1)
    senders = {
        actor: [_tick_sender(ref, actor, minute) for minute in minutes]
        for actor in ("recover", "refresh_slice")
    }
    for actor, by_minute in senders.items():
        hosts = [s.split(":")[0] if s else None for s in by_minute]
        assert hosts == ["worker-2"] * 3, (actor, by_minute)
    after = _periodic_runs(ref)
    assert {a: after[a] - ran[a] for a in ran} == {"recover": 3, "refresh_slice": 3}
    assert _fired(stack, log_from) >= 4  # the skewed one fired at each minute meanwhile
    status = scheduler_status(ref)
    assert str(status["holder"]).startswith("worker-2:"), status
    assert skewed.poll() is None, stack.log("web", "scheduler")
    offset = assert_skewed_scheduler_says_why(stack, ref, admin, log_from)
    # And with its clock right again, the web host's scheduler stands by (as it found it).
    restore_web_scheduler(stack, ref)
    ref.client.close()
    figures(
        "scheduler-clock-skew",
        offset_s=round(offset, 1),
        ticks={actor: 3 for actor in senders},
        holder=status["holder"],
        wall_s=round(time.monotonic() - started, 1),
    )


def start_skewed_scheduler(stack, ref) -> tuple[subprocess.Popen[bytes], int]:
    """The web host's scheduler line started 120 s behind (the host's other lines keep
    their clock), once it has compared its clock with Redis's; and where its output
    starts in the line's log."""
    log_from = len(stack.log("web", "scheduler", whole=True))
    stack.skews["web"] = "-120s"
    try:
        process = stack.start_line("web", "scheduler")
    finally:
        del stack.skews["web"]
    wait_for(lambda: _web_scheduler_clocks(ref), 60, "the skewed scheduler's clock report")
    return process, log_from


def _fired(stack, log_from: int) -> int:
    """How many times the skewed scheduler's periodiq fired ``recover`` (sent or not)."""
    return stack.log("web", "scheduler", whole=True)[log_from:].count("Scheduling Actor(recover)")


def _web_scheduler_clocks(ref) -> list:
    """The clock reports of the web host's schedulers."""
    return [c for c in process_clocks(ref) if c.role == "scheduler" and ":web:" in c.id]


def assert_skewed_scheduler_says_why(stack, ref, admin: Browser, log_from: int) -> float:
    """The skewed scheduler never held the lease and said why once in its log; its report,
    the dashboard and /metrics show it 120 s behind. Its offset."""
    log = stack.log("web", "scheduler", whole=True)[log_from:]
    assert "holds the lease" not in log, log
    said = [line for line in log.splitlines() if SCHEDULER_SKEW_LOG in line]
    assert len(said) == 1 and "s behind Redis's" in said[0], log
    [clock] = _web_scheduler_clocks(ref)
    assert clock.skewed and 118 < (clock.offset or 0) < 122, clock
    page = admin.get("/admin").text.replace("&#39;", "'")
    assert f"The scheduler process {clock.id}: its host's clock is " in page, page
    assert "behind Redis's: it sends no tick" in page, page
    metrics = admin.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    labels = f'process="{clock.id}",role="scheduler"'
    assert f"overlap_process_clock_skewed{{{labels}}} 1.0" in metrics.text, metrics.text
    return clock.offset or 0.0


def restore_web_scheduler(stack, ref) -> None:
    """Stop the skewed scheduler, forget its clock report, and start the web host's line
    again on the right clock: it stands by, worker-2's keeping the lease."""
    [skewed] = _web_scheduler_clocks(ref)
    stack.terminate("web", "scheduler")
    ref.client.hdel(reports_key(ref), skewed.id)
    holder = scheduler_status(ref)["holder"]
    stack.start_line("web", "scheduler")
    wait_for(lambda: [c for c in _web_scheduler_clocks(ref) if not c.skewed], 60,
             "the web host's scheduler, clock right")  # fmt: skip
    assert scheduler_status(ref)["holder"] == holder


# -- f. Clock skew: retention and recovery on a skewed host ---------------------------------------

# A finished run's age against its status's retention (the settings' defaults: succeeded
# kept 7 days, failed 30): a minute inside, and a minute past. A clock 120 s off, trusted,
# would take the one inside (ahead) or keep the one past (behind).
RETENTION_ROWS = {
    ("succeeded", "inside"): dt.timedelta(days=7, seconds=-60),
    ("succeeded", "past"): dt.timedelta(days=7, seconds=60),
    ("failed", "inside"): dt.timedelta(days=30, seconds=-60),
    ("failed", "past"): dt.timedelta(days=30, seconds=60),
}
# What a worker's ``recover`` does, in a process of its own on a skewed host: compare the
# clock with Redis's, as a worker does at boot (QueuePause), then run the recovery.
RECOVER = """
import redis
from actors.broker import configure
from config.redis_ref import RedisRef
from config.settings import Settings
from jobs.recovery import recover_jobs
from models import init_database
from ops.clock import RedisClock
settings = Settings.from_env()
init_database(settings.database_url)
configure(settings)
ref = RedisRef.from_settings(settings, redis.Redis.from_url(settings.redis_url))
clock = RedisClock()
clock.measure(ref)
done = recover_jobs()
print(f"offset={clock.offset:.1f} revived={done.revived} resent={done.resent}")
"""


@needs_libfaketime
def test_retention_and_recovery_on_worker_hosts_120_s_off_keep_whats_inside_and_the_live_job(
    stack, demo
):
    started = time.monotonic()
    ref = stack.redis_ref()
    # Given worker-1 120 s ahead and worker-2 120 s behind (their lines held), and ana's sync
    # running on the web host's worker, slowed down so that it lasts...
    restart_worker_lines(stack, ref, SKEWS)
    wait_for(lambda: len(_held(ref)) == 4, 90, "4 held workers")
    stack.start_line("web", "worker")
    wait_for(lambda: len(live_workers(ref)) == 5, 90, "the web host's worker")
    job = live_sync(stack, demo, "ana")
    seen = {}
    try:
        for host in WORKER_HOSTS:
            # When, on each skewed host, the retention and the recovery run against runs
            # a minute inside and a minute past their retention, and the live job...
            rows = retention_rows(host)
            seen[host] = stack.overlap("jobs", "clean", host=host).strip()
            seen[host] += "; " + stack.command(host, [sys.executable, "-c", RECOVER]).strip()
            # ...then only the runs past their retention are gone,
            kept = {key for key, row_id in rows.items() if JobRun.get_or_none(id=row_id)}
            assert kept == {k for k in RETENTION_ROWS if k[1] == "inside"}, (host, seen)
            # and the live job is still running, its worker's, untouched by the recovery.
            row = JobRun.get_by_id(job.id)
            assert (row.status, row.attempts, row.error) == ("running", 1, None), (host, seen)
            assert "revived=0" in seen[host], seen
    finally:
        demo.set_faults(latency_ms=0)
        JobRun.delete().where(JobRun.message_id.startswith("retention-")).execute()
    done = wait_for(lambda: _finished(job.id), 120, "ana's sync to end")
    assert (done.status, done.attempts) == ("succeeded", 1), done.error
    assert "had no heartbeat since" not in stack.log("web", "worker", whole=True)
    # And with their clocks right again, the hosts fetch again.
    stack.terminate("web", "worker")
    restart_worker_lines(stack, ref, {})
    wait_for(lambda: not _held(ref), 60, "every worker to fetch again", seen=lambda: _held(ref))
    ref.client.close()
    figures("retention-recovery-skew", runs=seen, wall_s=round(time.monotonic() - started, 1))


def live_sync(stack, demo: DemoSpotify, spotify_id: str) -> JobRun:
    """A sync of ``spotify_id`` running (a few pages in), slowed to 1.5 s an answer: it
    lasts about 45 s, through the runs on both skewed hosts."""
    demo.set_faults(latency_ms=1500)
    browser = Browser(stack.web_url)
    browser.sign_in(demo, spotify_id)
    assert browser.post("/refresh").status_code == 303
    job = latest_sync(spotify_id)
    wait_for(lambda: JobRun.get_by_id(job.id).pages_loaded >= 2, 120, "2 pages of the sync")
    return job


def retention_rows(host: str) -> dict[tuple[str, str], int]:
    """A finished run for each of ``RETENTION_ROWS``, ended that long ago; their ids."""
    now = utcnow()
    return {
        (status, where): JobRun.create(
            message_id=f"retention-{host}-{status}-{where}", actor="update_user",
            queue="interactive", status=status, finished_at=now - age,
        ).id
        for (status, where), age in RETENTION_ROWS.items()
    }  # fmt: skip
