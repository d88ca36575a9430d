"""The friend-code guess limit counts by what a client cannot choose: the signed-in person
and the real peer address (X-Forwarded-For only from a trusted proxy); and a person can
get a new code, which ends the old one at once."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import webtest

from web.http.client_address import ClientAddress
from web.http.session import COOKIE
from web.state.guess_limit import MAX_ADDRESS_FAILURES, MAX_FAILURES

ATTACKER, CLEO_ADDRESS = "203.0.113.9", "198.51.100.7"


def browser(web, address: str) -> webtest.TestApp:
    """Another client of the same app, from ``address``."""
    return webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": address})


def sign_in_as(client, demo_spotify, spotify_id: str, then_csrf: bool = True) -> str:
    """Sign ``client`` in as ``spotify_id``; its CSRF token."""
    query = parse_qs(urlsplit(client.get("/login").headers["Location"]).query)
    code = demo_spotify.code_for(spotify_id, query["redirect_uri"][0], state=query["state"][0])
    client.get("/callback", params={"code": code, "state": query["state"][0]})
    return csrf(client) if then_csrf else ""


def csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def guess(client, token: str, code: str = "ZZZZZZZZZZ", **headers: str) -> int:
    answer = client.post(
        "/compare", {"friend_code": code, "csrf_token": token}, headers=headers, status="*"
    )
    return answer.status_int


def test_a_changing_forwarded_for_and_a_renewed_token_do_not_reset_the_limit(web, demo_spotify):
    ben = browser(web, ATTACKER)
    sign_in_as(ben, demo_spotify, "ben", then_csrf=False)
    cookie = ben.cookies[COOKIE]  # as the sign-in set it: it holds no CSRF token yet

    answers = []
    for n in range(3 * MAX_FAILURES):
        if n % 5 == 0:  # the sign-in cookie replayed: a fresh session and CSRF token
            ben.reset()
            ben.set_cookie(COOKIE, cookie)
            token = csrf(ben)
        answers.append(guess(ben, token, **{"X-Forwarded-For": f"10.0.{n}.1"}))

    assert answers[:MAX_FAILURES] == [404] * MAX_FAILURES
    assert set(answers[MAX_FAILURES:]) == {429}


def test_guesses_sent_with_someone_elses_forwarded_for_do_not_block_them(
    web, demo_spotify, sign_in
):
    dmitri = sign_in("dmitri")
    ben, cleo = browser(web, ATTACKER), browser(web, CLEO_ADDRESS)
    bens_token = sign_in_as(ben, demo_spotify, "ben")
    cleos_token = sign_in_as(cleo, demo_spotify, "cleo")

    for _ in range(MAX_FAILURES + 5):
        guess(ben, bens_token, **{"X-Forwarded-For": CLEO_ADDRESS})

    assert guess(cleo, cleos_token, dmitri.friend_code) == 303


def test_forwarded_for_is_read_only_from_a_trusted_proxy_and_from_the_right():
    addresses = ClientAddress(["127.0.0.1", "10.1.0.0/16"])

    def of(peer: str, forwarded: str = "") -> str:
        return addresses.of({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded})

    assert of(ATTACKER, CLEO_ADDRESS) == ATTACKER  # not a proxy: the header is ignored
    assert of("127.0.0.1", f"{CLEO_ADDRESS}, {ATTACKER}") == ATTACKER  # the proxy's peer
    assert of("127.0.0.1", f"{ATTACKER}, 10.1.2.3") == ATTACKER  # two trusted hops
    assert of("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert of("127.0.0.1") == "127.0.0.1"
    assert ClientAddress(["*"]).of({"REMOTE_ADDR": ATTACKER, "HTTP_X_FORWARDED_FOR": "1.2.3.4"})


def test_a_new_friend_code_ends_the_old_one_at_once(web, signed_in_web, sign_in, csrf_of):
    ben = sign_in("ben")
    old = ben.friend_code
    signed_in_web("ben")
    token = csrf_of(web.get("/"))

    web.post("/friend-code", {"csrf_token": token}, status=303)

    home = web.get("/")
    new = type(ben).get_by_id(ben.id).friend_code
    assert new != old and new in home.text and old not in home.text
    web.reset()
    signed_in_web("cleo")
    assert web.get(f"/compare/{old}", status="*").status_int == 404
    assert web.get(f"/compare/{new}", status="*").status_int == 200


def test_signed_out_guesses_count_by_address_and_never_block_other_visitors(web, sign_in):
    ben = sign_in("ben")
    attacker, visitor = browser(web, ATTACKER), browser(web, CLEO_ADDRESS)

    for _ in range(MAX_FAILURES + 5):
        attacker.get("/compare/ZZZZZZZZZZ", status="*")

    assert visitor.get(f"/compare/{ben.friend_code}", status="*").status_int == 200


def test_a_burst_of_simultaneous_wrong_guesses_gets_no_more_than_the_limit(web, demo_spotify):
    # 64 wrong codes sent at once by one signed-in person, from 8 threads of 8 each.
    ben = browser(web, ATTACKER)
    token = sign_in_as(ben, demo_spotify, "ben")
    cookie = ben.cookies[COOKIE]

    def burst(_: int) -> list[int]:
        client = browser(web, ATTACKER)
        client.set_cookie(COOKIE, cookie)
        return [guess(client, token) for _ in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [status for statuses in pool.map(burst, range(8)) for status in statuses]

    assert answers.count(404) == MAX_FAILURES
    assert answers.count(429) == 64 - MAX_FAILURES


def test_a_right_code_takes_nothing_from_the_limit(web, demo_spotify, sign_in):
    dmitri = sign_in("dmitri")
    ben = browser(web, ATTACKER)
    token = sign_in_as(ben, demo_spotify, "ben")

    for _ in range(3 * MAX_FAILURES):
        assert guess(ben, token, dmitri.friend_code) == 303
    answers = [guess(ben, token) for _ in range(MAX_FAILURES + 1)]

    assert answers == [404] * MAX_FAILURES + [429]


def test_an_anonymous_flood_from_a_shared_address_does_not_lock_out_a_signed_in_person(
    web, demo_spotify, sign_in
):
    dmitri = sign_in("dmitri")
    anonymous, cleo = browser(web, CLEO_ADDRESS), browser(web, CLEO_ADDRESS)
    cleos_token = sign_in_as(cleo, demo_spotify, "cleo")

    for _ in range(MAX_ADDRESS_FAILURES + 5):
        anonymous.get("/compare/ZZZZZZZZZZ", status="*")

    assert anonymous.get(f"/compare/{dmitri.friend_code}", status="*").status_int == 429
    assert guess(cleo, cleos_token, dmitri.friend_code) == 303


def test_links_from_your_own_list_are_no_guesses_but_a_typed_code_still_counts(
    web, demo_spotify, sign_in
):
    # Given Ana on Ben's list (he typed her code), and Dmitri, whom Ben has never met.
    ana, dmitri = sign_in("ana"), sign_in("dmitri")
    ben = browser(web, ATTACKER)
    token = sign_in_as(ben, demo_spotify, "ben")
    assert guess(ben, token, ana.friend_code) == 303

    # When Ben types 25 wrong codes, past the limit of 20.
    answers = [guess(ben, token) for _ in range(25)]
    assert answers[:MAX_FAILURES] == [404] * MAX_FAILURES and set(answers[MAX_FAILURES:]) == {429}

    # Then his own list's link to Ana still opens their comparison, and so does her share
    # link (she is on his list: no guess); a code he types is still refused, Ana's too,
    # and so is the link of someone not on his list.
    home = ben.get("/").text
    link = re.search(r'<a class="person" href="(/with/\d+)">Ana</a>', home).group(1)
    assert ben.get(link).status_int == 200
    assert ben.get(f"/compare/{ana.friend_code}").headers["Location"].endswith(link)
    assert guess(ben, token, ana.friend_code) == 429
    assert guess(ben, token, dmitri.friend_code) == 429
    refused = ben.get(f"/compare/{dmitri.friend_code}", status="*")
    assert refused.status_int == 429 and "Too many wrong codes" in refused.text
