"""The comparison page through the production web server, beside the old inline design.

    .venv/bin/python bench/web_compare.py [-n 200] [--duration 60] [--old-rounds 3]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/webbench \\
        .venv/bin/python bench/web_compare.py

Loads two users of 15,000 artists each, 5,000 shared, with every artist's listener row for
this month (``load`` of ``bench/compare_queries.py``), both synced (``last_synced_at`` and
a succeeded ``update_user`` job), so the comparison is complete. Starts the ``web`` line of
the ``Procfile`` (gunicorn gthread) on a free loopback port, signs ana in with a session
cookie made by ``web.http.session.SessionStore``, and measures:

1. one keep-alive client, N requests each after a warm-up: ``POST /compare`` (the friend
   code form, 303) and ``GET /compare/<code>`` with ``HX-Request: true`` (the polling
   fragment, 286 once complete). Targets: p99 < 50 ms and p99 < 100 ms. Also shown: the
   very first fragment, and the fragment for a new page and sort each time (an answer
   not asked for before, so nothing the app may keep can serve it).
2. ``wrk`` on the fragment, 100 connections, 2 threads, for ``--duration`` seconds, twice:
   as 100 pollers (each connection asks at once, then waits 1.5 to 1.9 s after every
   answer; see ``WRK_DELAY``) and flat out (capacity). An error is a socket error (wrk's
   2 s timeout included) or a status other than 200 and 286. Target: no errors.
3. the old design: the request handler fetched both libraries from Spotify itself. Both
   biggest demo users (ana and ben) are read page by page with ``spotify.client`` against
   the demo Spotify at 20 ms latency, one request after the other, and their shared
   artists computed; the median of ``--old-rounds`` is set against the new
   POST + fragment p50. The demo's libraries are smaller than 15,000 artists (it has no
   bigger size), so an estimate scaled to two 15,000-artist libraries is printed as well,
   labelled as extrapolated. Listener counts (one artist page each) are left out, so the
   old design's figure is a lower bound.

Uses a temp SQLite file, or ``$DATABASE_URL``: a database without the app's tables (they
are created and dropped again; ``createdb webbench``). Redis is ``$REDIS_URL`` (keys under
a namespace of the run's own) or the embedded one. ``wrk`` is Debian's package
(``apt-get install wrk``); without it the load test is skipped with a message.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import bottle
import redis
import requests
from compare_queries import load  # bench/ is the script's directory, so on sys.path

from cli.embedded_redis import EmbeddedRedis, free_port
from jobs import queueing
from models import ComparedWith, JobRun, User, current_month, database, init_database, migrations
from models.comparison import SORTS, compare
from models.db import utcnow
from models.job_run import user_subject
from spotify.client import SpotifyClient, artist_ref, artists_of_saved_album, artists_of_saved_track
from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify, running_demo
from web.http.session import COOKIE, Session, SessionStore

ROOT = Path(__file__).resolve().parents[1]
POST_TARGET_MS, FRAGMENT_TARGET_MS = 50.0, 100.0
CONNECTIONS, WRK_THREADS, POLL_WAIT_MS = 100, 2, (1500, 1900)
LATENCY_MS, OLD_USERS, LIBRARY_SIZE = 20, ("ana", "ben"), 15_000
SECRET_KEY = "bench-web-compare-secret-key-of-32-bytes"
OK_STATUSES = (200, 286)

# Counts every status across wrk's threads and prints the figures in lines easy to parse.
WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
-- delay
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      io.write(("STATUS %d %d\\n"):format(status, n))
    end
  end
  local e = summary.errors
  io.write(("ERRORS %d %d %d %d\\n"):format(e.connect, e.read, e.write, e.timeout))
  io.write(("RUN %d %d\\n"):format(summary.requests, summary.duration))
  local p50, p99 = latency:percentile(50), latency:percentile(99)
  io.write(("LATENCY %d %d %d\\n"):format(p50, p99, latency.max))
end
"""
# htmx polls every 2 s. Each connection asks at once (a connection that sends nothing holds
# one of gunicorn's threads while it waits), then waits 1.5 to 1.9 s after every answer:
# random, so the pollers drift apart, and under gunicorn's keep-alive, because a browser
# opens a new connection when the server closed the idle one, which wrk counts as an error.
WRK_DELAY = """
local started = 0
function delay()
  started = started + 1
  if started <= {per_thread} then return 0 end
  return math.random({low}, {high})
end
"""


def wrk_script(paced: bool, connections: int = CONNECTIONS, threads: int = WRK_THREADS) -> str:
    """The Lua script of one wrk run: counts statuses; ``paced``: each connection polls."""
    if not paced:
        return WRK_LUA.replace("-- delay", "")
    low, high = POLL_WAIT_MS
    delay = WRK_DELAY.format(per_thread=connections // threads, low=low, high=high)
    return WRK_LUA.replace("-- delay", delay)


@dataclass
class WrkResult:
    """What one wrk run measured."""

    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Socket errors plus answers other than 200 and 286."""
        bad = sum(n for s, n in self.statuses.items() if s not in OK_STATUSES)
        return bad + sum(self.socket_errors.values())

    def error_text(self) -> str:
        """``no errors``, or what went wrong and how often."""
        if not self.errors:
            return "no errors"
        parts = [f"{k} {v}" for k, v in self.socket_errors.items() if v]
        parts += [
            f"HTTP {s}: {n}" for s, n in sorted(self.statuses.items()) if s not in OK_STATUSES
        ]
        return "ERRORS: " + ", ".join(parts)


def percentiles(times_ms: list[float]) -> tuple[float, float]:
    """p50 and p99 of a list of durations."""
    return statistics.median(times_ms), statistics.quantiles(times_ms, n=100)[98]


def previous_month(month: str) -> str:
    """The month before ``YYYY-MM``."""
    first = dt.date.fromisoformat(f"{month}-01")
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def prepare_database(url: str, stack: ExitStack) -> tuple[User, User]:
    """Create the schema, load the two synced libraries; drop everything on exit."""
    init_database(url)
    if migrations.current_version() is not None:
        raise SystemExit("this database has the app's tables already: give the bench its own")
    migrations.upgrade()
    stack.callback(database.close)
    stack.callback(migrations.drop_all)
    month = current_month()
    start = time.perf_counter()
    ana, ben = load(month, previous_month(month), random.Random(20260301), with_row=1.0)
    now = utcnow()
    for user in (ana, ben):
        User.update(last_synced_at=now).where(User.id == user.id).execute()
        JobRun.create(
            message_id=uuid.uuid4().hex, actor=queueing.UPDATE_USER, args=[user.id],
            subject=user_subject(user.id), queue=queueing.INTERACTIVE_QUEUE,
            requested_by="bench", status="succeeded", enqueued_at=now, started_at=now,
            finished_at=now,
        )  # fmt: skip
    report = compare(ana, ben, month)
    print(
        f"{url.split(':')[0]}: loaded in {time.perf_counter() - start:.1f} s; "
        f"{report.me.artist_count:,} and {report.friend.artist_count:,} artists, "
        f"{report.shared_count:,} shared, {report.pending_shared} pending"
    )
    database.close()
    return User.get_by_id(ana.id), User.get_by_id(ben.id)


def session_cookie(user: User, secret_key: str = SECRET_KEY) -> tuple[str, str]:
    """A signed session cookie for ``user`` and its CSRF token, made by the app's own store."""
    session = Session(uid=user.id, signed_in_at=utcnow().isoformat())
    csrf = session.csrf_token
    response = bottle.BaseResponse()
    request = bottle.BaseRequest({"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1"})
    SessionStore(secret_key).save(session, request, response)
    for name, value in response.headerlist:
        if name.lower() == "set-cookie":
            return SimpleCookie(value)[COOKIE].value, csrf
    raise RuntimeError("the session store set no cookie")


def procfile_command(name: str = "web") -> str:
    """The command of the Procfile's ``name`` process."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.removeprefix(f"{name}:").strip()
    raise SystemExit(f"the Procfile has no {name} process")


@contextmanager
def procfile_process(name: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """The Procfile's ``name`` process, started as a process manager starts it (in a
    session of its own, the venv's commands first on the PATH, its output appended to
    ``log``); stopped with SIGTERM to its group at the end, killed if it lingers."""
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["sh", "-c", f"exec {procfile_command(name)}"], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def web_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """The Procfile's web process on a free loopback port; yields its base URL."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    with procfile_process("web", env, log) as server:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the web server exited ({server.returncode}):\n{_tail(log)}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            # Not up yet; or bound but its workers still booting, on a busy machine.
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the web server did not answer /healthz in 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield base


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def timed(
    label: str, call: Callable[[], requests.Response], expect: tuple[int, ...], n: int
) -> tuple[float, float, dict[int, int]]:
    """Run ``call`` after a warm-up, then n times; returns (p50, p99, statuses)."""
    for _ in range(max(10, n // 10)):
        call()
    times, statuses = [], {}
    for _ in range(n):
        start = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - start) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code not in expect:
            raise SystemExit(f"{label}: HTTP {response.status_code}\n{response.text[:500]}")
    p50, p99 = percentiles(times)
    print(f"{label:<28} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {max(times):6.1f} ms")
    return p50, p99, statuses


def run_wrk(
    label: str, url: str, headers: dict[str, str], seconds: int, work: Path, paced: bool,
    connections: int = CONNECTIONS, threads: int = WRK_THREADS, timeout_s: int | None = None,
) -> WrkResult:  # fmt: skip
    """One wrk run against ``url``; returns its ``WrkResult``.

    ``timeout_s`` replaces wrk's 2 s timeout. wrk counts a timeout for every connection whose
    last request was sent longer ago than that, even one waiting out its poll delay after a
    prompt answer, so paced runs may want a longer one and a bound on the answers' latency.
    """
    script = work / f"wrk-{label}.lua"
    script.write_text(wrk_script(paced, connections, threads))
    command = ["wrk", "--latency", "-t", str(threads), "-c", str(connections)]
    command += ["-d", f"{seconds}s", "-s", str(script)]
    command += ["--timeout", f"{timeout_s}s"] if timeout_s else []
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    print(f"wrk {label}: {connections} connections for {seconds} s ...", flush=True)
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    (work / f"wrk-{label}.txt").write_text(out)
    statuses: dict[int, int] = {}  # one line per wrk thread and status
    for status, n in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M):
        statuses[int(status)] = statuses.get(int(status), 0) + int(n)
    errors = dict(
        zip(("connect", "read", "write", "timeout"), map(int, _line(out, "ERRORS")), strict=True)
    )
    requests_done, duration_us = map(int, _line(out, "RUN"))
    p50, p99, worst = (int(v) / 1000 for v in _line(out, "LATENCY"))
    return WrkResult(label, requests_done, duration_us / 1e6, p50, p99, worst, statuses, errors)


def _line(out: str, tag: str) -> list[str]:
    match = re.search(rf"^{tag} (.+)$", out, re.M)
    if match is None:
        raise SystemExit(f"wrk printed no {tag} line:\n{out}")
    return match.group(1).split()


def fetch_library(demo: DemoSpotify, spotify_id: str) -> set[str]:
    """Every artist id of one demo user's library, page after page, as the old handler did."""
    settings = demo.settings()
    ids: set[str] = set()
    with SpotifyClient(settings, demo.token_for(spotify_id)) as client:
        ids.update(artist_ref(a).spotify_id for a in client.iter_followed_artists())
        for item in client.iter_saved_tracks():
            ids.update(r.spotify_id for r in artists_of_saved_track(item))
        for item in client.iter_saved_albums():
            ids.update(r.spotify_id for r in artists_of_saved_album(item))
    return ids


def old_design(rounds: int) -> dict[str, float]:
    """Time the old inline comparison: both libraries fetched, then intersected."""
    print(f"old design: demo Spotify at {LATENCY_MS} ms, {' and '.join(OLD_USERS)} ...", flush=True)
    with running_demo(DemoConfig(latency_ms=LATENCY_MS)) as demo:
        walls, sizes, requests_made = [], [], 0
        for _ in range(rounds):
            demo.reset()
            start = time.perf_counter()
            libraries = [fetch_library(demo, user) for user in OLD_USERS]
            shared = libraries[0] & libraries[1]
            walls.append(time.perf_counter() - start)
            sizes = [len(library) for library in libraries]
            requests_made = demo.stats()["requests"]["api"]
    wall = statistics.median(walls)
    print(
        f"old inline: {wall:.2f} s median of {rounds} (min {min(walls):.2f}, max "
        f"{max(walls):.2f}); {requests_made} API requests, artists {sizes[0]:,} and "
        f"{sizes[1]:,}, {len(shared):,} shared"
    )
    scaled = wall * 2 * LIBRARY_SIZE / sum(sizes)
    return {"wall": wall, "requests": requests_made, "artists": sum(sizes), "scaled": scaled}


def run(args: argparse.Namespace, work: Path, stack: ExitStack) -> None:
    """Load, serve, measure, print."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'bench.db'}"
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis_url = stack.enter_context(EmbeddedRedis(work / "redis", persist=False)).url
    namespace = f"bench-web-{uuid.uuid4().hex[:8]}"

    def forget_keys() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            for key in client.scan_iter(f"{namespace}*"):
                client.delete(key)
        except redis.ConnectionError:
            pass  # Ctrl-C reached the embedded Redis too: its keys went with it
        finally:
            client.close()

    stack.callback(forget_keys)
    ana, ben = prepare_database(database_url, stack)
    env = {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": namespace, "SECRET_KEY": SECRET_KEY, "OVERLAP_VAR_DIR": str(work),
        # The bench computes hundreds of fresh pages a minute for one person on purpose.
        "COMPARE_COMPUTES_PER_MINUTE": "100000",
    }  # fmt: skip
    env.pop("SPOTIFY_CLIENT_ID", None)
    cookie, csrf = session_cookie(ana)
    log = work / "web.log"
    base = stack.enter_context(web_server(env, log))
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    print(f"web: {procfile_command().split(' web.wsgi')[0]} (WEB_CONCURRENCY={workers}) on {base}")
    # The comparison lives at /with/<id> once the code is typed (POST /compare, timed below).
    ComparedWith.let_in(ana, ben)
    fragment_url = f"{base}/with/{ben.id}"

    http = requests.Session()
    http.headers["Cookie"] = f"{COOKIE}={cookie}"
    form = {"friend_code": ben.friend_code, "csrf_token": csrf}
    hx = {"HX-Request": "true"}
    # The very first poll finds nothing computed before it (one sample).
    start = time.perf_counter()
    first = http.get(fragment_url, headers=hx, timeout=30)
    first_ms = (time.perf_counter() - start) * 1000
    print(f"first fragment (HTTP {first.status_code}): {first_ms:.1f} ms")
    post_p50, post_p99, _ = timed(
        "POST /compare (303)",
        lambda: http.post(f"{base}/compare", data=form, allow_redirects=False, timeout=30),
        (303,),
        args.n,
    )
    frag_p50, frag_p99, frag_statuses = timed(
        "GET fragment (HX-Request)",
        lambda: http.get(fragment_url, headers=hx, timeout=30),
        OK_STATUSES,
        args.n,
    )
    # Every (page, sort) is a request not seen before (400 of them, more than the warm-up
    # and N = 200 use), so the fragment is computed afresh each time.
    pages = itertools.cycle(
        f"{fragment_url}?page={page}&sort={sort}" for page in range(1, 101) for sort in SORTS
    )
    fresh_p50, fresh_p99, _ = timed(
        "GET fragment, new page/sort",
        lambda: http.get(next(pages), headers=hx, timeout=30),
        OK_STATUSES,
        args.n,
    )
    http.close()
    complete = "complete (286)" if set(frag_statuses) == {286} else f"statuses {frag_statuses}"
    print(f"fragment: {complete}")

    wrk_runs: list[WrkResult] = []
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed, so the load test is skipped. Install Debian's package:\n"
            "    sudo apt-get update && sudo apt-get install wrk"
        )
    else:
        headers = {"Cookie": f"{COOKIE}={cookie}", **hx}
        for label, paced in (("pollers", True), ("flat-out", False)):
            result = run_wrk(label, fragment_url, headers, args.duration, work, paced)
            wrk_runs.append(result)
            print(
                f"wrk {label}: {result.rate:.1f} req/s, p50 {result.p50_ms:.1f} ms, "
                f"p99 {result.p99_ms:.1f} ms, statuses {result.statuses}, {result.error_text()}"
            )
    stack.close()  # stop the server before the old design is timed

    old = old_design(args.old_rounds) if args.old_rounds else None
    report(
        Figures(
            database=database_url.split(":")[0],
            n=args.n,
            first_ms=first_ms,
            post=(post_p50, post_p99),
            fragment=(frag_p50, frag_p99),
            fresh=(fresh_p50, fresh_p99),
            wrk_runs=wrk_runs,
            old=old,
        )
    )


@dataclass
class Figures:
    """Everything one run measured, for the closing table."""

    database: str
    n: int
    first_ms: float
    post: tuple[float, float]
    fragment: tuple[float, float]
    fresh: tuple[float, float]
    wrk_runs: list[WrkResult]
    old: dict[str, float] | None


def report(f: Figures) -> None:
    """The figures in one table, with the verdicts."""

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    def row(label: str, p50: float, p99: float, note: str) -> None:
        print(f"{label:<34} {p50:6.1f} ms {p99:6.1f} ms  {note}")

    print(f"\n== web_compare on {f.database}, N = {f.n} ==")
    print(f"{'measure':<34} {'p50':>9} {'p99':>9}  target")
    ok = f.post[1] < POST_TARGET_MS
    row("POST /compare", *f.post, f"p99 < {POST_TARGET_MS:g} ms: {verdict(ok)}")
    ok = f.fragment[1] < FRAGMENT_TARGET_MS
    row("GET fragment (HX-Request)", *f.fragment, f"p99 < {FRAGMENT_TARGET_MS:g} ms: {verdict(ok)}")
    row("GET fragment, new page/sort", *f.fresh, "(every answer computed afresh)")
    print(f"{'first fragment (1 sample)':<34} {f.first_ms:6.1f} ms")
    for run in f.wrk_runs:
        label, target = f"wrk {run.label}, {run.rate:.1f} req/s", verdict(not run.errors)
        if run.socket_errors["timeout"] >= run.requests:  # wrk times only the answers in time
            print(f"{label:<34} {'over 2 s':>9} {'over 2 s':>9}  no errors: {target}")
        else:
            row(label, run.p50_ms, run.p99_ms, f"no errors: {target}")
        print(f"{'':<34} {run.requests:,} requests in {run.seconds:.0f} s, {run.error_text()}")
    if not f.wrk_runs:
        print("wrk: skipped (not installed)")
    if f.old is not None:
        old, scaled = f.old["wall"] * 1000, f.old["scaled"] * 1000
        new, fresh = f.post[0] + f.fragment[0], f.post[0] + f.fresh[0]
        print(
            f"{'old: inline fetch of ana + ben':<34} {old / 1000:6.2f} s  (measured: "
            f"{f.old['requests']:.0f} requests, {f.old['artists']:,.0f} artists)"
        )
        print(f"{'old: 2 x 15,000 artists':<34} {scaled / 1000:6.2f} s  (extrapolated by artists)")
        print(f"{'new: POST + fragment p50':<34} {new:6.1f} ms  ratio old / new = {old / new:,.0f}")
        print(f"{'':<34} {'':9}  extrapolated old / new = {scaled / new:,.0f}")
        print(
            f"{'new: POST + new page/sort p50':<34} {fresh:6.1f} ms  ratio old / new = "
            f"{old / fresh:,.0f}"
        )


def main() -> None:
    """Parse the flags, run, and clean up even on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="timed requests of each kind")
    parser.add_argument("--duration", type=int, default=60, help="seconds of each wrk run")
    parser.add_argument(
        "--old-rounds", type=int, default=3, help="passes of the old design (0: skip it)"
    )
    args = parser.parse_args()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        with ExitStack() as stack:
            run(args, work, stack)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
