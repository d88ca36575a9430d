"""Lighthouse on the pages people meet, mobile and desktop, in Debian's Chromium: 100 for
performance, accessibility and best practices on the landing, welcome, home and finished
comparison pages, and 100 for SEO on the landing page (the welcome and signed-in pages say
``noindex``, which Lighthouse's SEO score counts against them: ``is-crawlable`` is the one
SEO audit they may miss).

Lighthouse is a Node program, not a Python package: it is locked in ``tools/lighthouse``
(``package-lock.json``, every package's integrity hash) and ``make lighthouse`` installs it
there with ``npm ci``, as ``.ci/run`` does. ``LIGHTHOUSE`` names another copy's command.
Without one (or without Chromium) the test is skipped and says why.

How performance is asserted on a busy machine. Lighthouse's performance score simulates a
slow phone from the trace it records, so the main-thread tasks of a CPU shared with other
work come out longer than the page makes them: at load average 60 on 2 cores the home page
scored 75 (total blocking time 534 ms) where a quiet run scores 100 with none. So:

- every performance audit that does not come from measured durations (``TIMING``) must
  pass on every run, however busy the machine: no render-blocking request, pictures of
  the size they are shown at, text compressed, static files cached, no layout shift, a
  small DOM, no unused or unminified code, and the rest;
- the performance score must be 100 on every run whose CPU was fit to simulate a phone:
  Lighthouse measures the host's speed at the start of each run (``benchmarkIndex``) and
  itself warns that the score is unreliable below 1,000 (``SLOW_CPU``). A run below that is
  printed with its score and load but its score not asserted; when no run was fit, the
  test ends skipped, saying so, after asserting everything else, so a busy machine never
  reports an unmeasured score as a pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from config.settings import ROOT
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    live_app,  # noqa: F401  (a fixture)
)

LOCKED = ROOT / "tools" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
LIGHTHOUSE = (
    os.environ.get("LIGHTHOUSE")
    or (str(LOCKED) if LOCKED.exists() else None)
    or shutil.which("lighthouse")
)
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
UNSCORED = ("informative", "manual", "notApplicable", "error")
# Lighthouse's own threshold (core/gather/driver/environment.js): below it, "the tested
# device appears to have a slower CPU than Lighthouse expects".
SLOW_CPU = 1000
# The performance audits whose result comes from durations measured on this machine (the
# metrics, and the diagnostics that time the main thread or the server), which a busy CPU
# lengthens. Every other performance audit must pass on any machine.
TIMING = frozenset({
    "first-contentful-paint", "largest-contentful-paint", "speed-index", "interactive",
    "total-blocking-time", "max-potential-fid", "first-meaningful-paint", "bootup-time",
    "largest-contentful-paint-element", "mainthread-work-breakdown", "long-tasks",
    "server-response-time", "document-latency-insight", "forced-reflow-insight",
})  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: .ci/run installs it"),
    pytest.mark.skipif(
        LIGHTHOUSE is None,
        reason="Lighthouse is not installed: `make lighthouse` installs the locked one in "
        "tools/lighthouse (README, Tests)",
    ),
]


def lighthouse(url: str, form: str, cookie: str | None) -> dict:
    """Lighthouse's report on ``url`` as a phone or a desktop sees it."""
    command = [
        str(LIGHTHOUSE), url, "--output=json", "--output-path=stdout", "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={' '.join(['--headless=new', *CHROMIUM_ARGS[1:]])}",
    ]  # fmt: skip
    if form == "desktop":
        command.append("--preset=desktop")
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "CHROME_PATH": str(CHROMIUM)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    if folder := os.environ.get("LIGHTHOUSE_REPORTS"):  # to read a run's details later
        name = url.split("/", 3)[-1].replace("/", "_") or "root"
        Path(folder, f"{name}-{form}-{'in' if cookie else 'out'}.json").write_text(done.stdout)
    return json.loads(done.stdout)


def scores(report: dict) -> dict[str, int]:
    """The four category scores, 0-100."""
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}


def failing(report: dict, category: str) -> set[str]:
    """The scored audits of ``category`` short of full marks."""
    refs = report["categories"][category]["auditRefs"]
    audits = [report["audits"][ref["id"]] for ref in refs]
    return {
        a["id"]
        for a in audits
        if a["score"] is not None and a["score"] < 1 and a["scoreDisplayMode"] not in UNSCORED
    }


def signed_in_cookie(live_app: str, ben_code: str) -> tuple[str, int]:  # noqa: F811
    """Cléo signs in from Ben's link and compares; her session cookie, once it is complete."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(f"{live_app}/compare/{ben_code}")
        page.click("text=Sign in with Spotify to compare")
        page.click("text=Cléo")
        page.click("button:has-text('Compare with Ben')")
        page.wait_for_selector("#comparison[data-complete=true]", timeout=180_000)
        path = page.url.removeprefix(live_app).split("?")[0]
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
        browser.close()
    return cookie, int(path.rsplit("/", 1)[1])


# Eight Lighthouse runs: 110 s in all on the quiet 2-core machine, 12 min at load 30 to 86.
@pytest.mark.timeout(1500)
def test_lighthouse_scores_100_on_the_pages_people_meet(live_app, sign_in):  # noqa: F811
    ben = sign_in("ben")
    cookie, ben_id = signed_in_cookie(live_app, ben.friend_code)
    assert ben_id == ben.id
    pages = {
        "landing": ("/", None),
        "welcome": (f"/compare/{ben.friend_code}", None),
        "home": ("/", cookie),
        "comparison": (f"/with/{ben.id}", cookie),
    }
    print("\npage        form     perf  a11y  best   seo  cpu benchmark  load  failing audits")
    reports = {}
    for name, (path, with_cookie) in pages.items():
        for form in ("mobile", "desktop"):
            report = reports[name, form] = lighthouse(f"{live_app}{path}", form, with_cookie)
            got = scores(report)
            misses = sorted(set().union(*(failing(report, c) for c in CATEGORIES)))
            print(
                f"{name:11} {form:7} " + " ".join(f"{got[c]:5}" for c in CATEGORIES)
                + f" {report['environment']['benchmarkIndex']:14.0f}"
                + f" {os.getloadavg()[0]:5.1f}  {' '.join(misses)}"
            )  # fmt: skip

    unmeasured = []
    for (name, form), report in reports.items():
        got = scores(report)
        assert got["accessibility"] == got["best-practices"] == 100, (name, form, got)
        assert failing(report, "performance") - TIMING == set(), (name, form)
        # The welcome and signed-in pages' noindex, and nothing else.
        assert failing(report, "seo") == (set() if name == "landing" else {"is-crawlable"})
        if report["environment"]["benchmarkIndex"] >= SLOW_CPU:
            assert got["performance"] == 100, (name, form, got)
        else:
            unmeasured.append(f"{name} {form}")
    if unmeasured:
        pytest.skip(
            f"all but the performance score held; that was not measured on {unmeasured}: "
            f"the CPU was too busy to simulate a phone (Lighthouse's benchmark under "
            f"{SLOW_CPU}, load average {os.getloadavg()[0]:.0f} on {os.cpu_count()} cores)"
        )
