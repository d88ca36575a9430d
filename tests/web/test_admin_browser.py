"""The dashboard in a real headless Chromium, under the app's strict CSP: every page opens
without a violation, the tabs mark where you are, a bulk action asks first, the
overview's auto-refresh stops while paused and starts again when resumed, and on a phone,
light and dark, every page fits the width with no serious accessibility problem."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from actors.middleware.queue_pause import QueuePause
from config.redis_ref import RedisRef
from jobs.queueing import build_message
from models import AuditEntry, JobRun
from models.db import utcnow
from ops.clock_watch import ProcessClock, write_report
from ops.counters import CounterBuffer
from ops.pause import pause_queue
from tests.ops.test_dead_letters import bury
from tests.web.test_admin_chart_colours import PALETTE, resolve
from tests.web.test_browser import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_OVERFLOW,
    axe_problems,
    live_app,
)
from web.state import refused_sign_ins

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here"),
]

PAGES = {
    "/admin": "Overview",
    "/admin/jobs": "Jobs",
    "/admin/jobs?status=failed": "Failed runs",
    "/admin/dead": "Dead letters",
    "/admin/schedules": "Schedules",
    "/admin/audit": "Audit",
    "/admin?range=7d": "Overview",
    "/admin/queues/bulk": "Overview",
    "/admin/queues/bulk?kind=delayed": "Overview",
    "/admin/queues/bulk?kind=retrying": "Overview",
    "/admin/jobs/{job}": "Jobs",
    "/admin/queues/bulk/purge": "Overview",
    "/admin/schedules/refresh_listeners/run": "Schedules",
}
# Where screenshots go when asked for (OVERLAP_SCREENSHOTS=/tmp/shots), to look at by eye.
SHOTS = os.environ.get("OVERLAP_SCREENSHOTS")


def seed(broker) -> int:
    """What the pages show; returns the id of a person's sync waiting on the paused bulk."""
    ref = RedisRef.of(broker)
    # Paused, so the test's worker leaves bulk's messages where the pages list them.
    pause_queue(ref, "bulk")
    [pause] = [m for m in broker.middleware if isinstance(m, QueuePause)]
    deadline = time.monotonic() + 10
    while "bulk" not in pause.paused:  # the worker reads the pause within a second
        assert time.monotonic() < deadline, "the worker never saw the pause"
        time.sleep(0.05)
    # Someone else's sync (Emma, who signs in, is user 1).
    sync = build_message("update_user", "bulk", [999])
    job, _ = JobRun.open(message_id=sync.message_id, actor="update_user", args=[999],
                         subject="user:999", queue="bulk")  # fmt: skip
    broker.enqueue(sync)
    for i in range(60):
        broker.enqueue(build_message("update_artist", "bulk", [f"4Z8W4fKeB5YxbusRsdQV{i:02d}"]))
    for i in range(4):
        late = build_message("update_artist", "bulk", [f"0TnOYISbd1XYRBk9myaseg{i}"])
        if i % 2:
            late.options["retries"] = i
        broker.enqueue(late, delay=3_600_000)
    # A scheduler on a host whose clock is off, with a long host name: its warning must
    # wrap on a phone.
    skewed = ProcessClock("scheduler:ip-10-0-3-17.eu-west-1.compute.internal:48213",
                          "scheduler", -120.0, True, "it sends no tick")  # fmt: skip
    write_report(ref, skewed, expires_at=time.time() + 3_600)
    buffer = CounterBuffer()
    for ms in (4, 30, 800, 95_000):
        buffer.record("update_artist_with_a_long_actor_name", "succeeded", ms, "artists")
        buffer.record("update_user", "retried", ms * 3, "interactive")
    buffer.flush(ref)
    for i in range(3):
        bury(ref, "artists", "update_artist", [f"4Z8W4fKeB5YxbusRsdQVP{i}"],
             error="spotify.errors.ServerError: 503 from the artist page")  # fmt: skip
    JobRun.create(message_id="failed-1", actor="update_user", args=[1], subject="user:1",
                  queue="interactive", status="failed", error="ServerError: 503",
                  finished_at=utcnow())  # fmt: skip
    AuditEntry.record("admin:emma", "pause", "queue:bulk")
    for address in ("203.0.113.7", "203.0.113.7", "2001:db8:5::/64"):
        refused_sign_ins.record(ref, address)
    return int(job.id)


# Each of the chart's words' size in px, and the colours its bars and swatches are drawn in.
CHART_DRAWN = """() => {
  const chart = document.querySelector('.jobs-chart');
  const words = [...chart.querySelectorAll('*')].filter(e => [...e.childNodes].some(
    n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()) && e.closest('svg') === null);
  const fill = s => getComputedStyle(chart.querySelector(s)).fill;
  const background = s => getComputedStyle(chart.querySelector(s)).backgroundColor;
  return {sizes: words.map(e => parseFloat(getComputedStyle(e).fontSize)),
          colours: [fill('rect.done'), background('.done-key'),
                    fill('rect.failed'), background('.failed-key')]};
}"""


def rgb(hex_colour: str) -> str:
    """A hex colour as the browser's computed style writes it."""
    return "rgb({}, {}, {})".format(*(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)))


def check_chart(page, scheme: str) -> None:
    """The chart's words are 12 px or more and it draws in the colours whose contrast
    test_admin_chart_colours.py checks, not in ones a later rule put over them."""
    drawn = page.evaluate(CHART_DRAWN)
    assert drawn["sizes"] and min(drawn["sizes"]) >= 12, (scheme, drawn["sizes"])
    props = PALETTE[scheme]
    succeeded, failed = (rgb(resolve(f"var(--chart-{s})", props)) for s in ("succeeded", "failed"))
    assert drawn["colours"] == [succeeded, succeeded, failed, failed], scheme


def test_every_dashboard_page_opens_under_the_csp_and_auto_refresh_pauses(
    live_app,  # noqa: F811
    broker,
):
    from playwright.sync_api import sync_playwright

    job = seed(broker)
    pages = {path.format(job=job): tab for path, tab in PAGES.items()}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        page.goto(live_app)
        page.click("text=Sign in with Spotify")
        page.click("text=Emma")
        page.wait_for_url(f"{live_app}/*", timeout=90_000)

        for path, tab in pages.items():
            page.goto(live_app + path)
            assert page.inner_text(".admin-nav [aria-current=page]") == tab
            assert page.evaluate(NO_OVERFLOW), path  # 1280 px: nothing scrolls sideways
            _shoot(page, path)
        page.goto(live_app + "/admin")
        assert "scheduler process scheduler:ip-10-0-3-17" in page.inner_text("main")
        page.goto(live_app + "/admin/jobs")
        page.click("text=/Cancel everything queued or running/")
        assert "jobs are queued, running or retrying" in page.inner_text("main")
        _shoot(page, "/admin/jobs/cancel-active")

        page.goto(live_app + "/admin")
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") else None)
        page.wait_for_function("() => !document.getElementById('autorefresh').hidden")
        page.click("#autorefresh")
        assert page.get_attribute("#autorefresh", "aria-pressed") == "true"
        time.sleep(0.5)
        polls.clear()
        time.sleep(4.5)
        assert polls == []  # paused: no poll in more than two periods
        page.click("#autorefresh")
        page.wait_for_timeout(4_500)
        assert len(polls) >= 1  # resumed

        # While a form field has focus (one put beside the overview, as a filter would be),
        # the polls hold back by themselves, and go on once it loses focus.
        page.evaluate(
            "() => { const field = document.createElement('input');"
            " field.id = 'probe'; field.setAttribute('aria-label', 'probe');"
            " document.querySelector('main').prepend(field); field.focus(); }"
        )
        time.sleep(0.5)
        polls.clear()
        time.sleep(4.5)
        assert polls == []
        page.evaluate("() => document.getElementById('probe').blur()")
        page.wait_for_timeout(4_500)
        assert len(polls) >= 1

        # On a phone, light and dark, every page fits the width and axe-core finds nothing
        # serious. (The CSP rightly refuses the injected axe script, so this context skips it.)
        signed_in = page.context.storage_state()
        for scheme in ("light", "dark"):
            context = browser.new_context(
                bypass_csp=True, color_scheme=scheme, storage_state=signed_in,
                viewport={"width": 390, "height": 844},
            )  # fmt: skip
            checked = context.new_page()
            for path in pages:
                checked.goto(live_app + path)
                assert checked.evaluate(NO_OVERFLOW), (scheme, path)
                if path.startswith("/admin?") or path == "/admin":
                    check_chart(checked, scheme)
                if scheme == "dark":
                    _shoot(checked, path, scheme)
                assert axe_problems(checked) == [], (scheme, path)
            context.close()
        browser.close()
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def _shoot(page, path: str, scheme: str = "light") -> None:
    """Save the page at desktop and phone width (``scheme``: the context's colours)."""
    if not SHOTS:
        return
    name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
    size = page.viewport_size
    for width, height, label in ((1280, 800, "desktop"), (390, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(Path(SHOTS) / f"{name}-{label}-{scheme}.png"), full_page=True)
    page.set_viewport_size(size)
