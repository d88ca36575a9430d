"""Sign-in cannot be used to burn Spotify's budget or to tie up the web process: its steps
are limited per client address, its calls to Spotify go through the shared gate (a lane
of their own, counted in the day's budget) with a 5 s timeout, and at most 4 of them talk
to Spotify at once in one process."""

from __future__ import annotations

import re
import threading
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
import webtest

from config.redis_ref import RedisRef
from models import User
from spotify.gate import SpotifyGate
from web.app import create_app
from web.state import refused_sign_ins

TOKEN_CALLS = "POST /accounts/api/token"


def token_calls(demo_spotify) -> int:
    """How many token requests the demo Spotify has received since its last reset."""
    return demo_spotify.stats()["routes"].get(TOKEN_CALLS, 0)


def state_of(login) -> str:
    """The OAuth state a ``/login`` redirect carries."""
    return parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]


def approved(demo_spotify, login, user_id: str) -> dict[str, str]:
    """The callback's query after ``user_id`` approves the sign-in ``login`` began."""
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    state = query["state"][0]
    return {"code": demo_spotify.code_for(user_id, query["redirect_uri"][0], state=state),
            "state": state}  # fmt: skip


def app_with(app_settings, broker, **changes) -> webtest.TestApp:
    """The web app on the test's namespace with some settings changed."""
    settings = app_settings.but(redis_namespace=broker.namespace, **changes)
    return webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})


def test_thirty_junk_sign_ins_from_one_address_spend_at_most_ten_token_calls(
    web, demo_spotify, signed_in_web
):
    # Given a client at 10.0.0.5 that starts a sign-in and sends a junk code, 30 times
    address = {"REMOTE_ADDR": "10.0.0.5"}
    logins, callbacks, state = [], [], ""
    for _ in range(30):
        login = web.get("/login", extra_environ=address, expect_errors=True)
        logins.append(login)
        state = state_of(login) if login.status_int == 303 else state
        callbacks.append(
            web.get(
                "/callback",
                params={"code": "junk", "state": state},
                extra_environ=address,
                expect_errors=True,
            )
        )

    # Then Spotify's token endpoint was called 10 times, and the rest were refused here
    assert token_calls(demo_spotify) == 10
    assert [a.status_int for a in logins] == [303] * 10 + [429] * 20
    assert [a.status_int for a in callbacks] == [400] * 10 + [429] * 20
    refused = logins[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many sign-ins came from your address" in refused.text
    assert "Traceback" not in refused.text
    # ... while someone at another address signs in as usual
    assert signed_in_web("cleo").status_int == 303
    assert token_calls(demo_spotify) == 11


def test_the_limit_counts_the_address_a_trusted_proxy_gives_and_an_ipv6_client_s_64(
    web, demo_spotify
):
    behind_proxy = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    for _ in range(10):
        assert web.get("/login", extra_environ=behind_proxy).status_int == 303
    assert web.get("/login", extra_environ=behind_proxy, status=429)
    # The proxy's other clients are not that one
    other = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.10"}
    assert web.get("/login", extra_environ=other).status_int == 303

    # An IPv6 client cannot get fresh counts from the other addresses of its /64
    for n in range(10):
        login = web.get("/login", extra_environ={"REMOTE_ADDR": f"2001:db8::{n + 1}"})
        assert login.status_int == 303
    assert web.get("/login", extra_environ={"REMOTE_ADDR": "2001:db8::ffff"}, status=429)
    assert web.get("/login", extra_environ={"REMOTE_ADDR": "2001:db8:0:1::1"}).status_int == 303


def test_sign_in_calls_go_through_the_gate_and_count_toward_the_day(
    web, signed_in_web, demo_spotify, broker, app_settings
):
    gate = SpotifyGate(RedisRef.of(broker), app_settings)
    before = gate.requests_today("api")

    assert signed_in_web("cleo").status_int == 303

    # The token call and the profile call, both counted for the day
    assert gate.requests_today("api") == before + 2
    assert token_calls(demo_spotify) == 1


def test_sign_in_stops_at_the_budget_s_bulk_share_without_calling_spotify(
    app_settings, broker, db, demo_spotify
):
    # Given a day's budget of 10, of which the syncs spent 8 (the bulk share, 80 %)
    web = app_with(app_settings, broker, spotify_daily_budget=10)
    gate = SpotifyGate(RedisRef.of(broker), app_settings.but(spotify_daily_budget=10))
    for _ in range(8):
        gate.before_request("api")

    # When someone signs in
    login = web.get("/login")
    answer = web.get("/callback", params=approved(demo_spotify, login, "cleo"), status=503)

    # Then they are told sign-in opens again tomorrow, and Spotify was not asked
    assert "Sign-in opens again at 00:00 UTC" in answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert token_calls(demo_spotify) == 0
    assert User.select().count() == 0
    # ... and the syncs still have the rest of the day
    gate.before_request("api")
    assert gate.requests_today("api") == 9


def test_a_slow_spotify_gives_up_a_sign_in_after_five_seconds(web, demo_spotify):
    # Spotify answers after 7 s: the old 10 s timeout would have waited and signed in
    demo_spotify.set_faults(latency_ms=7000)
    login = web.get("/login")
    params = approved(demo_spotify, login, "cleo")

    answer = web.get("/callback", params=params, status=502)

    assert "Spotify did not answer the sign-in" in answer.text
    assert User.select().count() == 0


def test_at_most_four_sign_ins_talk_to_spotify_at_once_the_rest_hear_it_is_busy(
    app_settings, broker, db, demo_spotify
):
    # Given a Spotify that takes 4 s per answer, and 10 people at 10 addresses whose
    # sign-ins come back from Spotify at the same moment
    app = create_app(app_settings.but(redis_namespace=broker.namespace))
    demo_spotify.set_faults(latency_ms=4000)
    browsers, states = [], []
    for n in range(10):
        browser = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": f"10.0.1.{n + 1}"})
        states.append(state_of(browser.get("/login")))
        browsers.append(browser)
    answers: list[webtest.TestResponse] = []
    ready = threading.Barrier(10)

    def call_back(browser: webtest.TestApp, state: str) -> None:
        ready.wait()
        params = {"code": "junk", "state": state}
        answers.append(browser.get("/callback", params=params, expect_errors=True))

    threads = [
        threading.Thread(target=call_back, args=pair) for pair in zip(browsers, states, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then four went to Spotify (and were refused the junk code); the others were told at
    # once, or after a short wait in line, that sign-in is busy, without calling Spotify
    statuses = Counter(a.status_int for a in answers)
    assert statuses == {400: 4, 503: 6}, statuses
    assert token_calls(demo_spotify) == 4
    busy = next(a for a in answers if a.status_int == 503)
    assert "Many people are signing in right now" in busy.text
    assert busy.headers["Retry-After"] == "5"


@pytest.mark.parametrize("address", ["10.0.0.5", "2001:db8::5"])
def test_the_429_page_is_a_page_not_an_error(web, address):
    for _ in range(10):
        web.get("/login", extra_environ={"REMOTE_ADDR": address})
    answer = web.get("/login", extra_environ={"REMOTE_ADDR": address}, status=429)
    assert answer.content_type == "text/html"
    assert "<title>" in answer.text and "Too many sign-ins" in answer.text


def refused_from(web, demo_spotify, user_id: str, address: str):
    """A sign-in of ``user_id`` from ``address`` that Spotify lets through consent, then
    refuses (not on the app's user list)."""
    environ = {"REMOTE_ADDR": address}
    login = web.get("/login", extra_environ=environ)
    params = approved(demo_spotify, login, user_id)
    return web.get("/callback", params=params, extra_environ=environ, status=403)


def test_one_account_refused_200_times_leaves_the_others_refusals_visible(
    app_settings, broker, db, demo_spotify
):
    # Given a Development Mode app with Emma alone on its list (a per-address limit high
    # enough that all 200 of the flood reach Spotify)
    web = app_with(app_settings, broker, sign_ins_per_minute=1000, spotify_sign_in_rate=1000.0)
    demo_spotify.set_faults(registered_users="emma")
    # ... Dmitri and Ben refused once each, from their own addresses
    refused_from(web, demo_spotify, "dmitri", "10.0.0.6")
    refused_from(web, demo_spotify, "ben", "2001:db8::7")

    # When Cleo is refused 200 times from hers
    for _ in range(200):
        refused_from(web, demo_spotify, "cleo", "10.0.0.5")

    # Then the operator still sees Dmitri's and Ben's refusals, and Cleo's once, counted
    seen = refused_sign_ins.latest(RedisRef.of(broker))
    assert [(r.address, r.tries) for r in seen] == [
        ("10.0.0.5", 200),
        ("2001:db8::/64", 1),
        ("10.0.0.6", 1),
    ]
    # ... and so does /admin: each address once, with its count, the most refused first
    overview = admin_overview(web, demo_spotify)
    assert refused_rows(overview) == [
        ("10.0.0.5", "200"),
        ("2001:db8::/64", "1"),
        ("10.0.0.6", "1"),
    ]
    assert "The 3 addresses refused most often in the last 30 days</caption>" in overview


def admin_overview(web, demo_spotify) -> str:
    """/admin as the demo's admin, Emma, signed in on a client of her own."""
    admin = webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
    login = admin.get("/login")
    admin.get("/callback", params=approved(demo_spotify, login, "emma"))
    return admin.get("/admin").text


def refused_rows(page: str) -> list[tuple[str, str]]:
    """(address, times refused) of each row of the overview's refused sign-ins."""
    table = re.search(r'<table class="refused".*?</table>', page, re.S)
    assert table is not None, "no table of refused sign-ins"
    return re.findall(r"<td><code>([^<]+)</code></td><td class=\"num\">([\d,]+)</td>", table[0])


def test_the_admin_sees_the_ten_addresses_refused_most_often_and_how_many_there_are(
    app_settings, broker, db, demo_spotify
):
    # Given a Development Mode app with Emma alone on its list, and 12 addresses refused:
    # 10.0.1.<i> refused i times, 1 to 4 and then once each
    web = app_with(app_settings, broker, sign_ins_per_minute=1000, spotify_sign_in_rate=1000.0)
    demo_spotify.set_faults(registered_users="emma")
    times = [1, 2, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1]
    for i, n in enumerate(times, start=1):
        for _ in range(n):
            refused_from(web, demo_spotify, "dmitri", f"10.0.1.{i}")

    # When the admin opens the overview
    overview = admin_overview(web, demo_spotify)

    # Then it lists ten addresses, the most refused first (the latest first among equals),
    # and says that the window holds twelve
    rows = refused_rows(overview)
    assert rows[:4] == [("10.0.1.4", "4"), ("10.0.1.3", "3"), ("10.0.1.2", "2"),
                        ("10.0.1.12", "1")]  # fmt: skip
    assert len(rows) == 10 and ("10.0.1.1", "1") not in rows  # the oldest of the ones
    assert "The 10 addresses refused most often in the last 30 days, of 12</caption>" in overview
