"""Rate limits, the daily quota, latency and faults of the demo, and its control endpoints."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from spotify_demo.harness import DemoSpotify
from spotify_demo.limits import DailyQuota, RollingWindow


def me(demo: DemoSpotify, timeout: float = 10) -> requests.Response:
    """GET /v1/me as Ana."""
    headers = {"Authorization": f"Bearer {demo.token_for('ana')}"}
    return demo.http.get(f"{demo.api_url}/me", headers=headers, timeout=timeout)


def page(demo: DemoSpotify) -> requests.Response:
    """GET the page of the first artist."""
    return demo.http.get(f"{demo.open_url}/artist/{demo.catalog.artists[0].id}", timeout=10)


def test_a_rolling_window_frees_a_slot_when_the_oldest_request_leaves_it() -> None:
    window = RollingWindow()
    assert window.admit(100.0, 2, 10) is None
    assert window.admit(104.0, 2, 10) is None
    assert window.admit(105.0, 2, 10) == 5
    assert window.admit(110.0, 2, 10) is None


def test_a_daily_quota_waits_until_utc_midnight() -> None:
    quota = DailyQuota()
    eleven_pm = datetime(2024, 3, 1, 23, 0, tzinfo=UTC).timestamp()
    assert quota.admit(eleven_pm, 1) is None
    assert quota.admit(eleven_pm, 1) == 3600
    assert quota.admit(eleven_pm + 3600, 1) is None


def test_over_the_rate_limit_the_api_answers_429_with_retry_after(
    demo_spotify: DemoSpotify,
) -> None:
    demo_spotify.set_faults(rate_limit=3, rate_window_s=30)
    statuses = [me(demo_spotify).status_code for _ in range(3)]
    refused = me(demo_spotify)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert refused.json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    assert demo_spotify.stats()["rate_limited"] == 1


def test_the_window_frees_up_after_retry_after(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(rate_limit=1, rate_window_s=1)
    assert me(demo_spotify).ok
    refused = me(demo_spotify)
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    assert me(demo_spotify).ok


def test_the_stats_keep_the_longest_row_of_429s_with_none_let_through_between(
    demo_spotify: DemoSpotify,
) -> None:
    demo_spotify.set_faults(pages_rate_limit=1, rate_window_s=30)
    assert page(demo_spotify).status_code == 200
    assert [page(demo_spotify).status_code for _ in range(3)] == [429] * 3
    demo_spotify.set_faults(pages_rate_limit=2)  # one more slot in the window
    assert page(demo_spotify).status_code == 200
    assert page(demo_spotify).status_code == 429
    stats = demo_spotify.stats()
    assert stats["rate_limited"] == 4
    assert stats["rate_limited_in_a_row"] == {"api": 0, "open": 3}


def test_pages_have_their_own_rate_limit(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(pages_rate_limit=1, rate_window_s=30)
    assert page(demo_spotify).status_code == 200
    refused = page(demo_spotify)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert me(demo_spotify).status_code == 200


def test_over_the_daily_quota_retry_after_lasts_until_utc_midnight(
    demo_spotify: DemoSpotify,
) -> None:
    demo_spotify.set_faults(daily_quota=2)
    assert [me(demo_spotify).status_code for _ in range(2)] == [200, 200]
    refused = me(demo_spotify)
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    assert refused.status_code == 429
    assert abs(int(refused.headers["Retry-After"]) - (midnight - now).total_seconds()) < 5


def test_faults_are_server_errors_with_a_spotify_body(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(fault_rate=1)
    responses = [me(demo_spotify) for _ in range(6)]
    assert {r.status_code for r in responses} <= {500, 502, 503}
    for response in responses:
        assert response.json()["error"]["status"] == response.status_code
    assert demo_spotify.stats()["server_errors"] == 6


def test_a_timeout_fault_answers_later_than_the_client_waits(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(timeout_rate=1, timeout_seconds=1)
    with pytest.raises(requests.Timeout):
        me(demo_spotify, timeout=0.3)
    assert demo_spotify.stats()["timeouts"] == 1


def test_a_truncate_fault_cuts_the_json_short(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(truncate_rate=1)
    response = me(demo_spotify)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_latency_slows_every_answer(demo_spotify: DemoSpotify) -> None:
    demo_spotify.set_faults(latency_ms=150)
    started = time.perf_counter()
    me(demo_spotify)
    assert time.perf_counter() - started >= 0.15


def test_reset_restores_the_start_up_config_and_clears_the_counters(
    demo_spotify: DemoSpotify,
) -> None:
    demo_spotify.set_faults(fault_rate=1)
    me(demo_spotify)
    demo_spotify.reset()
    assert me(demo_spotify).status_code == 200
    stats = demo_spotify.stats()
    assert stats["server_errors"] == 0 and stats["requests"]["api"] == 1


def test_config_changes_are_checked(demo_spotify: DemoSpotify) -> None:
    url = f"{demo_spotify.base_url}/_demo/config"
    for bad in ({"fault_rate": 2}, {"seed": 1}, {"rate_limit": "many"}, {"rate_limit": 1.5}):
        response = demo_spotify.http.post(url, json=bad, timeout=10)
        assert response.status_code == 400, bad
        assert response.json()["error"]["status"] == 400
    shown = demo_spotify.http.get(url, timeout=10).json()["config"]
    assert shown["fault_rate"] == 0 and "client_secret" not in shown


def test_stats_count_requests_by_host_kind_and_route(demo_spotify: DemoSpotify) -> None:
    me(demo_spotify)
    page(demo_spotify)
    demo_spotify.http.post(f"{demo_spotify.accounts_url}/api/token", timeout=10)
    stats = demo_spotify.stats()
    assert {k: stats["requests"][k] for k in ("api", "open", "accounts")} == {
        "api": 1,
        "open": 1,
        "accounts": 1,
    }
    assert stats["routes"]["GET /v1/me"] == 1


def test_stats_keep_the_busiest_second_and_30_seconds_and_who_asked(
    demo_spotify: DemoSpotify,
) -> None:
    # Three pages at once, then (over a second later) one more: the busiest second held 3.
    for _ in range(3):
        page(demo_spotify)
    time.sleep(1.1)
    page(demo_spotify)
    stats = demo_spotify.stats()
    assert stats["busiest_second"]["open"] == 3
    assert stats["busiest_30_seconds"]["open"] == 4
    assert stats["busiest_second"]["api"] == 0
    assert stats["clients"]["127.0.0.1"] == 5  # the four pages and the stats call itself
    demo_spotify.reset()
    assert demo_spotify.stats()["busiest_second"]["open"] == 0


def test_the_index_says_what_this_server_is(demo_spotify: DemoSpotify) -> None:
    for path in ("/", "/_demo/"):
        response = demo_spotify.http.get(f"{demo_spotify.base_url}{path}", timeout=10)
        assert response.status_code == 200 and "demo Spotify" in response.text
