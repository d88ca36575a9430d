"""Your people: opening a comparison lists it on both people's home pages (newest first,
with the headline match), removing one hides it from your list only, and deleting an
account removes its rows from everyone's list."""

from __future__ import annotations

import datetime as dt

from models import ComparedWith, User
from models.db import utcnow
from tests.web.test_compare import both_synced, csrf, library


def people_on(page) -> list[str]:
    section = page.text.split('<section class="people">')[1].split("</section>")[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in section.split('class="person"')[1:]]


def test_opening_a_comparison_lists_it_for_both_newest_first(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    dina = User.sign_in("dina", "Dina", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"A": 10, "B": 20})
    library(ben, {"A": 10})
    both_synced(cleo, ben, dina)

    assert "Nobody yet" in web.get("/").text
    web.get(f"/compare/{dina.friend_code}")
    web.get(f"/compare/{ben.friend_code}")

    home = web.get("/")
    assert people_on(home) == ["Ben", "Dina"]
    # Ben's one artist is all in Cleo's library: the headline match is 100%.
    assert "100% match" in home.text
    assert f'href="/compare/{ben.friend_code}"' in home.text
    # Ben sees Cleo too, without opening anything.
    assert [row.other.name for row in ComparedWith.people_of(ben)] == [cleo.name]


def test_removing_a_person_hides_them_from_your_list_only(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    both_synced(cleo, ben)
    web.get(f"/compare/{ben.friend_code}")

    # Without the CSRF token the form is refused and nothing changes.
    refused = web.post(f"/people/{ben.id}/remove", expect_errors=True)
    assert refused.status_int == 403 and people_on(web.get("/")) == ["Ben"]
    answer = web.post(f"/people/{ben.id}/remove", {"csrf_token": csrf(web.get("/"))})

    assert answer.status_int == 303
    assert people_on(web.get("/")) == []
    assert [row.other.name for row in ComparedWith.people_of(ben)] == [cleo.name]
    # Opening the comparison again brings Ben back.
    web.get(f"/compare/{ben.friend_code}")
    assert people_on(web.get("/")) == ["Ben"]


def test_the_list_holds_the_latest_opening_first_whoever_opened_it(db):
    ana, ben, cleo = (User.sign_in(n, n.title(), {}) for n in ("ana", "ben", "cleo"))
    ComparedWith.record(ana, ben, 0.5)
    ComparedWith.record(cleo, ana, 0.25)
    hour_ago = utcnow() - dt.timedelta(hours=1)
    ComparedWith.update(seen_at=hour_ago).where(ComparedWith.other == ben.id).execute()

    assert [(r.other.name, r.match) for r in ComparedWith.people_of(ana)] == [
        ("Cleo", 0.25),
        ("Ben", 0.5),
    ]
    assert ComparedWith.update_match(ana, ben, 0.5) == 0  # unchanged: nothing written
    assert ComparedWith.update_match(ana, ben, 0.75) == 2


def test_deleting_an_account_removes_it_from_every_list(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    both_synced(cleo, ben)
    web.get(f"/compare/{ben.friend_code}")
    assert ComparedWith.select().count() == 2

    web.post("/account/delete", {"csrf_token": csrf(web.get("/"))})

    assert ComparedWith.select().count() == 0
    assert ComparedWith.people_of(ben) == []


def test_a_person_s_spotify_picture_shows_in_the_list_and_a_person_without_one_an_initial(
    web, signed_in_web, demo_spotify
):
    # Ben and Cléo have profile pictures in the demo, as on Spotify; Dmitri has none.
    signed_in_web("ben")
    signed_in_web("dmitri")
    signed_in_web("cleo")  # the last sign-in is the browser's session
    ben, dmitri = (User.get(User.spotify_id == name) for name in ("ben", "dmitri"))
    cleo = User.get(User.spotify_id == "cleo")
    assert ben.image_url == f"{demo_spotify.base_url}/open/image/ben/300.svg"  # the largest
    assert dmitri.image_url is None
    both_synced(cleo, ben, dmitri)
    web.get(f"/compare/{ben.friend_code}")
    web.get(f"/compare/{dmitri.friend_code}")

    section = web.get("/").text.split('<section class="people">')[1].split("</section>")[0]
    rows = section.split("<li>")[1:]
    ben_row = next(row for row in rows if ">Ben<" in row)
    dmitri_row = next(row for row in rows if ">Dmitri<" in row)
    assert f'<img class="person-picture" src="{ben.image_url}"' in ben_row
    assert "person-picture" not in dmitri_row and 'class="monogram"' in dmitri_row
    assert demo_spotify.http.get(ben.image_url, timeout=10).status_code == 200


def test_an_id_too_large_or_not_a_number_is_no_one_and_changes_nothing(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    both_synced(cleo, ben)
    web.get(f"/compare/{ben.friend_code}")
    token = csrf(web.get("/"))

    for crafted in ("99999999999999999999999", "-1", "0x1", "%C2%B2"):
        answer = web.post(f"/people/{crafted}/remove", {"csrf_token": token}, status="*")
        assert answer.status_int == 404, crafted
        assert "There is no such person" in answer.text

    assert people_on(web.get("/")) == ["Ben"]
