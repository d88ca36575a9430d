"""The dashboard's Spotify section: the day's Web API requests against the budget, on
/admin and /metrics, and ending a quota pause by hand, written to the audit trail."""

from __future__ import annotations

import html
import re

import pytest

from config.redis_ref import RedisRef
from models import AuditEntry
from spotify.gate import SpotifyGate


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def gate(broker, app_settings):
    return SpotifyGate(RedisRef.of(broker), app_settings)


@pytest.fixture
def admin(web, signed_in_web):
    signed_in_web("emma")  # the sign-in spends one Web API request (/me) outside the gate
    return web


def test_the_days_web_api_requests_show_on_the_dashboard_and_in_the_metrics(admin, gate):
    # The admin's own sign-in counted 2 (the token and the profile)
    assert gate.requests_today("api") == 2
    for _ in range(3):
        gate.before_request("api")

    page = admin.get("/admin")
    metrics = admin.get("/metrics")

    assert "Requests today (UTC)" in page.text
    row = re.search(r"<td>Web API</td>(.*?)</tr>", page.text, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row)[2] == "5"
    assert 'overlap_spotify_requests_today{host="api"} 5.0' in metrics.text


def test_an_operator_ends_a_quota_pause_from_the_dashboard_and_it_is_audited(admin, gate):
    gate.pause("api", 6 * 3600)  # a QUOTA_EXCEEDED 429's Retry-After of hours
    page = admin.get("/admin")
    assert "End the pause" in page.text

    answer = admin.post("/admin/spotify/api/resume", {"csrf_token": csrf(page)})

    assert answer.status_int == 303
    assert gate.paused_until("api") is None
    entry = AuditEntry.latest(limit=1)[0]
    assert (entry.who, entry.action, entry.target) == ("admin:emma", "resume", "spotify:api")
    assert "End the pause" not in admin.get("/admin").text
    assert "The pause of Spotify's requests is over" in html.unescape(answer.follow().text)


def test_ending_a_pause_that_is_not_there_says_nothing_changed(admin, gate):
    page = admin.get("/admin")

    answer = admin.post("/admin/spotify/api/resume", {"csrf_token": csrf(page)})

    assert "Nothing was paused, so nothing changed." in answer.follow().text
    entry = AuditEntry.latest(limit=1)[0]
    assert (entry.action, entry.target, entry.count) == ("resume", "spotify:api", 0)


def test_only_an_admin_may_end_a_pause(web, signed_in_web, gate):
    signed_in_web("cleo")
    gate.pause("api", 3600)
    token = csrf(web.get("/", expect_errors=True))

    answer = web.post("/admin/spotify/api/resume", {"csrf_token": token}, expect_errors=True)

    assert answer.status_int == 403
    assert gate.paused_until("api") is not None
