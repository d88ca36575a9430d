"""Groups of three to five friends (issue 20, items 1, 2 and 4), through the real routes.

Typing codes invites; only joining shows a library; leaving ends it at once; anyone else
gets the 404 of a group that does not exist. The figures are checked against a ground
truth computed here with Python sets."""

from __future__ import annotations

import itertools
import re
from urllib.parse import urlsplit

import webtest

from models import Group, GroupMember, User, UserArtist
from tests.web.test_compare import both_synced, library
from tests.web.test_friend_code_guard import csrf, sign_in_as

NAMES = ("ana", "ben", "cleo", "dmitri", "emma")
NO_GROUP_SENTENCE = "There is no group here."


def client_of(web, demo_spotify, spotify_id: str, address: str) -> webtest.TestApp:
    """A browser of its own, signed in as ``spotify_id``."""
    client = webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": address})
    sign_in_as(client, demo_spotify, spotify_id, then_csrf=False)
    return client


def people(web, demo_spotify, count: int) -> list[tuple[webtest.TestApp, User]]:
    """``count`` demo people, each signed in on a browser of their own."""
    found = []
    for n, name in enumerate(NAMES[:count]):
        client = client_of(web, demo_spotify, name, f"198.51.100.{30 + n}")
        found.append((client, User.get(User.spotify_id == name)))
    return found


def make_group(client, codes: list[str]) -> str:
    """Type these codes in the group form; the group's path."""
    answer = client.post("/groups", {"friend_codes": ", ".join(codes), "csrf_token": csrf(client)})
    assert answer.status_int == 303, answer.text
    path = urlsplit(answer.headers["Location"]).path
    assert re.fullmatch(r"/groups/[A-Za-z0-9_-]{22}", path)
    return path


def join(client, path: str) -> None:
    answer = client.post(f"{path}/join", {"csrf_token": csrf(client)})
    assert answer.status_int == 303 and urlsplit(answer.headers["Location"]).path == path


# Libraries chosen so every section has something: "core" everyone has, each person has
# artists of their own, and the rest are spread over pairs and triples.
def libraries(count: int) -> list[dict[str, int | None]]:
    libs: list[dict[str, int | None]] = [{} for _ in range(count)]
    listeners = itertools.count(1000, 137)
    for n in range(4):
        for lib in libs:
            lib[f"core-{n}"] = 50_000 + n * 10
    for i in range(count):
        for n in range(3 + i):
            libs[i][f"own-{i}-{n}"] = next(listeners)
    for size in range(2, count):
        for holders in itertools.combinations(range(count), size):
            name = "with-" + "".join(map(str, holders))
            for i in holders:
                libs[i][name] = next(listeners) if name[-1] != "3" else None
    return libs


def truth(libs: list[dict[str, int | None]]) -> dict:
    """The expected figures, from sets alone."""
    sets = [set(lib) for lib in libs]
    everything = set().union(*sets)
    held = {a: [i + 1 for i, s in enumerate(sets) if a in s] for a in everything}
    pairs = {}
    for (i, a), (j, b) in itertools.combinations(enumerate(sets), 2):
        shared = len(a & b)
        pairs[(i + 1, j + 1)] = (shared, shared / min(len(a), len(b)))
    return {
        "counts": [len(s) for s in sets],
        "everyone": set.intersection(*sets),
        "held": held,
        "artists": {a for a, who in held.items() if len(who) >= 2},
        "pairs": pairs,
        "own": [s - set().union(*(t for t in sets if t is not s)) for s in sets],
    }


def group_of(web, demo_spotify, count: int) -> tuple[list, str, dict, list]:
    """``count`` people with ``libraries(count)``, in one group that all joined."""
    crowd = people(web, demo_spotify, count)
    libs = libraries(count)
    for (_, user), lib in zip(crowd, libs, strict=True):
        library(user, lib)
    both_synced(*(user for _, user in crowd))
    path = make_group(crowd[0][0], [user.friend_code for _, user in crowd[1:]])
    for client, _ in crowd[1:]:
        join(client, path)
    return crowd, path, truth(libs), libs


def all_artists(client, path: str) -> list[dict]:
    key = path.rsplit("/", 1)[1]
    first = client.get(f"/api/groups/{key}?limit=7").json
    rows, offset = list(first["artists"]), 7
    while offset < first["artists_count"]:
        rows += client.get(f"/api/groups/{key}?limit=7&offset={offset}").json["artists"]
        offset += 7
    return rows


def check_against_truth(client, path: str, expected: dict, count: int) -> None:
    key = path.rsplit("/", 1)[1]
    answer = client.get(f"/api/groups/{key}").json
    assert set(answer) == {
        "complete", "members", "pairs", "everyone_count", "artists_count", "artists"
    }  # fmt: skip
    assert [m["artist_count"] for m in answer["members"]] == expected["counts"]
    assert [m["id"] for m in answer["members"]] == list(range(1, count + 1))
    assert all(set(m) == {"id", "display_name", "artist_count", "joined", "you"}
               for m in answer["members"])  # fmt: skip
    assert answer["everyone_count"] == len(expected["everyone"])
    assert answer["artists_count"] == len(expected["artists"])
    pairs = {(p["a"], p["b"]): (p["shared"], p["match"]) for p in answer["pairs"]}
    assert pairs.keys() == expected["pairs"].keys()
    for pair, (shared, match) in expected["pairs"].items():
        assert pairs[pair][0] == shared and abs(pairs[pair][1] - match) < 1e-6, pair
    rows = all_artists(client, path)
    assert [r["name"] for r in rows if r["name"]] and {r["name"] for r in rows} == expected[
        "artists"
    ]
    assert all(r["held_by"] == expected["held"][r["name"]] for r in rows)
    # Most holders first, then fewest listeners (unknown counts last).
    order = [(-len(r["held_by"]), r["monthly_listeners"] is None, r["monthly_listeners"] or 0)
             for r in rows]  # fmt: skip
    assert order == sorted(order)


def test_a_group_of_three_shows_what_sets_say(web, demo_spotify):
    crowd, path, expected, _ = group_of(web, demo_spotify, 3)
    check_against_truth(crowd[1][0], path, expected, 3)
    page = crowd[0][0].get(path).text
    # Each person's distinctive artists, all but one naming who lacks each.
    for own in expected["own"]:
        assert all(name in page for name in own)
    assert "with-01" in page and "not Cléo" in page


def test_a_group_of_five_shows_what_sets_say_and_the_pair_figure_is_the_two_person_one(
    web, demo_spotify
):
    crowd, path, expected, _ = group_of(web, demo_spotify, 5)
    check_against_truth(crowd[2][0], path, expected, 5)
    # The grid's cell for Ben and Dmitri opens the two-person view inside the group.
    page = crowd[0][0].get(path).text
    assert f'href="{path}/pairs/2/4"' in page
    shared, match = expected["pairs"][(2, 4)]
    pair = crowd[0][0].get(f"{path}/pairs/2/4")
    assert f"{shared} shared artists" in pair.text and f"{round(match * 100)}%" in pair.text


def test_an_invitee_sees_names_only_and_nothing_of_theirs_counts_until_they_join(web, demo_spotify):
    (ana, ana_user), (ben, ben_user), (cleo, _) = people(web, demo_spotify, 3)
    library(ana_user, {"a-1": 10, "ana-and-ben": 20})
    library(ben_user, {"b-1": 10, "ana-and-ben": 20, "ben-secret": 5})
    both_synced(ana_user, ben_user)
    path = make_group(ana, [ben_user.friend_code])
    key = path.rsplit("/", 1)[1]

    # Ana sees Ben as invited, nothing of his library.
    mine = ana.get(path).text
    assert "invited, not joined yet" in mine
    assert "ben-secret" not in mine and "ana-and-ben" not in mine
    answer = ana.get(f"/api/groups/{key}").json
    assert answer["members"][1] == {
        "id": 2, "display_name": "Ben", "artist_count": None, "joined": False, "you": False
    }  # fmt: skip
    assert answer["pairs"] == [] and answer["artists"] == [] and answer["artists_count"] == 0
    # Ben sees the names and the invitation, on the page and his home page, no figures.
    his = ben.get(path).text
    assert "Join the group" in his and "Ana" in his and "a-1" not in his
    assert "An invitation" in ben.get("/").text and f"/groups/{key}" in ben.get("/").text
    # The group is on its maker's home page too, as theirs.
    assert "1 of 2 joined" in ana.get("/").text
    assert ben.get(f"/api/groups/{key}").json["members"][0]["artist_count"] is None
    # Cléo, never invited, gets the answer of a group that does not exist.
    assert cleo.get(path, status=404).text == cleo.get("/groups/" + "x" * 22, status=404).text
    assert cleo.get(f"/api/groups/{key}", status=404).json == {"error": "no such group"}
    # A GET of the join address grants nothing.
    ben.get(f"{path}/join", status=405)
    assert ana.get(f"/api/groups/{key}").json["artists"] == []

    join(ben, path)
    answer = ana.get(f"/api/groups/{key}").json
    assert [a["name"] for a in answer["artists"]] == ["ana-and-ben"]
    assert answer["members"][1]["artist_count"] == 3


def test_a_member_who_leaves_is_gone_at_once(web, demo_spotify):
    crowd, path, expected, libs = group_of(web, demo_spotify, 3)
    key = path.rsplit("/", 1)[1]
    cleo = crowd[2][0]
    assert cleo.post(f"{path}/leave", {"csrf_token": csrf(cleo)}).status_int == 303

    answer = crowd[0][0].get(f"/api/groups/{key}").json
    assert [m["display_name"] for m in answer["members"]] == ["Ana", "Ben"]
    two = truth(libs[:2])
    assert {a["name"] for a in all_artists(crowd[0][0], path)} == two["artists"]
    assert not any(name in crowd[0][0].get(path).text for name in expected["own"][2])
    cleo.get(path, status=404)


def test_codes_are_never_shown_inside_a_group(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    key = path.rsplit("/", 1)[1]
    for client, _ in crowd:
        seen = client.get(path).text + client.get(f"/api/groups/{key}").text
        seen += client.get(f"{path}/pairs/1/2").text
        for _, user in crowd:
            assert user.friend_code not in seen


def test_wrong_codes_get_the_comparison_form_s_error_with_what_was_typed(web, demo_spotify):
    (ana, _), (_, ben_user) = people(web, demo_spotify, 2)
    typed = f"{ben_user.friend_code} ZZZZZZZZZZ"
    answer = ana.post("/groups", {"friend_codes": typed, "csrf_token": csrf(ana)}, status=404)
    assert "No one has that friend code. Check it with your friend." in answer.text
    assert f'value="{typed}"' in answer.text
    assert Group.select().count() == 0
    bad = ana.post("/groups", {"friend_codes": "nope", "csrf_token": csrf(ana)}, status=400)
    assert "not a friend code" in bad.text
    too_many = " ".join(["ZZZZZZZZZZ"] * 5)
    ana.post("/groups", {"friend_codes": too_many, "csrf_token": csrf(ana)}, status=400)


def test_the_guess_limit_counts_each_code_tried(web, demo_spotify):
    from web.state.guess_limit import MAX_FAILURES

    (ana, _), _ = people(web, demo_spotify, 2)
    token = csrf(ana)
    statuses = []
    for n in range(MAX_FAILURES + 1):
        codes = f"ZZZZZZZZZ{n % 10}"
        statuses.append(
            ana.post("/groups", {"friend_codes": codes, "csrf_token": token}, status="*").status_int
        )
    assert statuses[:MAX_FAILURES] == [404] * MAX_FAILURES and statuses[-1] == 429


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 2)
    ana, ben = crowd[0][0], crowd[1][0]
    ana.post("/groups", {"friend_codes": crowd[1][1].friend_code}, status=403)
    ben.post(f"{path}/leave", {}, status=403)
    assert Group.select().count() == 1 and GroupMember.select().count() == 2


def test_deleting_an_account_leaves_the_group_going_without_them(web, demo_spotify):
    crowd, path, _, libs = group_of(web, demo_spotify, 3)
    ana = crowd[0][0]
    ana.post("/account/delete", {"csrf_token": csrf(ana)})

    ben = crowd[1][0]
    key = path.rsplit("/", 1)[1]
    answer = ben.get(f"/api/groups/{key}").json
    assert [m["display_name"] for m in answer["members"]] == ["Ben", "Cléo"]
    assert {a["name"] for a in all_artists(ben, path)} == truth(libs[1:])["artists"]
    assert answer["members"][0]["id"] == 2  # the group's own numbers stay


def test_the_pair_view_is_for_the_group_s_members_only(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    outsider = client_of(web, demo_spotify, "dmitri", "198.51.100.60")
    outsider.get(f"{path}/pairs/1/2", status=404)
    crowd[0][0].get(f"{path}/pairs/1/1", status=404)
    crowd[0][0].get(f"{path}/pairs/1/9", status=404)


def test_the_page_polls_until_complete_and_says_no_verdict_before(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 5)
    ana = crowd[0][0]
    first = ana.get(path).text
    # "with-…3" artists have no count yet: the page polls, and says no verdict.
    assert 'hx-trigger="every 2s"' in first and "said once every count is in" in first
    assert 'role="status" aria-live="polite"' in first and "Looking up listener counts" in first
    poll = ana.get(path, headers={"HX-Request": "true"})
    assert poll.status_int == 200 and "every 2s" in poll.text


def test_deleting_an_account_forgets_the_group_entries_naming_them(web, demo_spotify):
    from web.http import services as app_services
    from web.state.personal_keys import keys_about

    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    crowd[0][0].get(path)  # computes and caches the group under the three members
    ref = app_services.of(web.app).redis_ref
    cleo = crowd[2][1]
    naming = [k for k in keys_about(ref, cleo.id) if ":group" in k]
    assert naming, "the group's entries name Cléo"

    crowd[2][0].post("/account/delete", {"csrf_token": csrf(crowd[2][0])})
    assert not any(ref.client.exists(k) for k in naming)


def catalog_library(demo_spotify, spotify_id: str) -> set[str]:
    """Every artist the demo Spotify lists for the person, from any source."""
    catalog = demo_spotify.catalog
    sources = ("followed", "saved_track", "saved_album")
    return set().union(*(catalog.expected_artist_ids(spotify_id, s) for s in sources))


def test_real_syncs_fill_a_group_and_a_member_whose_sync_fails_counts_what_was_stored(
    web, demo_spotify, sign_in, worker
):
    from actors.testing import job_finished, wait_for
    from jobs import queueing
    from models import JobRun
    from models.artist import Artist, ArtistFields
    from models.job_run import user_subject

    # Cléo and Dmitri sign in (their syncs start); Ben's sync will fail at its first call
    # (Spotify refuses his refresh token), with part of his library already stored.
    cleo = client_of(web, demo_spotify, "cleo", "198.51.100.70")
    dmitri = client_of(web, demo_spotify, "dmitri", "198.51.100.71")
    ben_user = sign_in("ben")
    theirs = sorted(catalog_library(demo_spotify, "cleo"))[:9]
    theirs += sorted(catalog_library(demo_spotify, "dmitri"))[:4]
    stored = {*theirs, "0000000000000000benonly"}
    ids = Artist.upsert_many([ArtistFields(sid, f"n{sid[-4:]}", None) for sid in stored])
    UserArtist.link_many(ben_user.id, ids.values(), "saved_track")
    token = ben_user.load_token()
    token["expires_at"] = 0
    ben_user.save_token(token)
    demo_spotify.revoke("ben")

    path = make_group(
        cleo, [ben_user.friend_code, User.get(User.spotify_id == "dmitri").friend_code]
    )
    join(dmitri, path)
    Group.get(Group.key == path.rsplit("/", 1)[1]).join(ben_user)
    cleo.get(path)  # opening it asks for Ben's sync: he never had one

    def finished(name: str) -> JobRun:
        user = User.get(User.spotify_id == name)
        job = wait_for(lambda: JobRun.latest_for(queueing.UPDATE_USER, user_subject(user.id)))
        return wait_for(job_finished(job.id), 180, f"{name}'s sync")

    assert finished("cleo").status == "succeeded" and finished("dmitri").status == "succeeded"
    assert finished("ben").status == "failed"

    sets = [catalog_library(demo_spotify, "cleo"), stored, catalog_library(demo_spotify, "dmitri")]
    key = path.rsplit("/", 1)[1]
    answer = cleo.get(f"/api/groups/{key}").json
    assert [m["artist_count"] for m in answer["members"]] == [len(s) for s in sets]
    assert answer["complete"] is False
    for pair in answer["pairs"]:
        a, b = sets[pair["a"] - 1], sets[pair["b"] - 1]
        assert pair["shared"] == len(a & b)
        assert abs(pair["match"] - len(a & b) / min(len(a), len(b))) < 1e-6
    two_or_more = {x for x in set().union(*sets) if sum(x in s for s in sets) >= 2}
    assert answer["artists_count"] == len(two_or_more)
    # One page of them all: while counts land the order moves, so pages could skip one.
    every = cleo.get(f"/api/groups/{key}?limit=200").json["artists"]
    assert {a["spotify_id"] for a in every} == two_or_more
    assert "Loading Ben&#39;s library failed" in cleo.get(path).text


def test_the_pair_view_s_see_all_pages_stay_inside_the_group(web, demo_spotify):
    crowd, path, _, libs = group_of(web, demo_spotify, 3)
    ana = crowd[0][0]
    only_ben = ana.get(f"{path}/pairs/2/1/only-them").text  # seen from her side
    only = set(libs[1]) - set(libs[0])
    assert f"({len(only)})" in only_ben and all(name in only_ben for name in only)
    assert f'href="{path}/pairs/1/2"' in ana.get(f"{path}/pairs/1/2/only-them").text
    crowd[2][0].get(f"{path}/pairs/1/2/only-you")  # any joined member may look
    outsider = client_of(web, demo_spotify, "emma", "198.51.100.61")
    outsider.get(f"{path}/pairs/1/2/only-you", status=404)


def test_polls_of_an_incomplete_group_send_each_artist_two_hold_once(web, demo_spotify, broker):
    from actors.testing import enqueued
    from jobs import queueing

    # Given a group of five whose "with-…3" artists have no count yet:
    crowd, path, expected, libs = group_of(web, demo_spotify, 5)
    waiting = {a for a in expected["artists"] if a.startswith("with-") and a.endswith("3")}
    broker.flush_all()

    # When the page opens and polls twice:
    crowd[0][0].get(path)
    for _ in range(2):
        crowd[0][0].get(path, headers={"HX-Request": "true"})

    # Then each of them went once on the shared queue, and nothing else did.
    sent = enqueued(broker, queueing.SHARED_QUEUE)
    assert sorted(m.args[0] for m in sent) == sorted(f"{a:0>22}"[-22:] for a in waiting)


# Member numbers of every wrong shape, escaped as sent: digits str.isdigit accepts and int()
# refuses ("²", "¹"), other scripts' digits ("١", fullwidth "１"), signs, spaces, zero,
# numbers past any column, a NUL.
CRAFTED_NUMBERS = ("%C2%B2", "%C2%B9", "1%C2%B3", "%D9%A1", "%EF%BC%91", "%EF%BC%92",
                   "-1", "%2B1", "%201", "1%20", "0", "9" * 30, "1%00", "1e0")  # fmt: skip


def test_a_crafted_member_number_in_a_pair_s_address_is_a_404_not_a_500(web, demo_spotify):
    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    ana = crowd[0][0]
    ana.get(f"{path}/pairs/1/2")  # the real pair is there

    for bad in CRAFTED_NUMBERS:
        for pair in (f"{bad}/2", f"1/{bad}", f"{bad}/{bad}"):
            for tail in ("", "/only-you", "/only-them"):
                answer = ana.get(f"{path}/pairs/{pair}{tail}", expect_errors=True)
                assert answer.status_int == 404, (pair, tail, answer.status)
                assert NO_GROUP_SENTENCE in answer.text


def test_a_group_key_no_group_could_have_is_the_unknown_group_s_404(web, demo_spotify):
    # PostgreSQL refuses a NUL in a text parameter: "/groups/%00" was a 500 there.
    crowd, path, _, _ = group_of(web, demo_spotify, 3)
    ana, key = crowd[0][0], path.rsplit("/", 1)[1]
    token = csrf(ana)

    for bad in ("%00", f"{key}%00", f"{key[:5]}%00{key[5:]}", f"{key[:21]}%C3%A9", "%EF%BC%91"):
        for tail in ("", "/pairs/1/2", "/pairs/1/2/only-you", "/pairs/2/1/only-them"):
            answer = ana.get(f"/groups/{bad}{tail}", expect_errors=True)
            assert answer.status_int == 404 and NO_GROUP_SENTENCE in answer.text, (bad, tail)
        assert ana.get(f"/api/groups/{bad}", expect_errors=True).json == {"error": "no such group"}
        for act in ("join", "leave"):
            answer = ana.post(f"/groups/{bad}/{act}", {"csrf_token": token}, expect_errors=True)
            assert answer.status_int == 404, (bad, act)
    assert ana.get(path).status_int == 200  # still a member of the real one
