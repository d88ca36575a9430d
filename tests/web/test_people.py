"""Who sees whose library is each owner's deliberate choice (issue 18, item 1).

Following a code's link grants nothing; typing the code, or pressing "Compare with Ben" on
overlap's own page (a POST with the CSRF token), lets the two see each other's library.
A new friend code ends the sight of those let in through the old one, unless kept;
"Stop sharing" ends it at once and bars the same code; the home page says who can see
what. Deleting an account removes its rows from everyone's list."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import webtest

from models import ComparedWith, User
from models.db import utcnow
from tests.web.comparing import compare_with
from tests.web.test_compare import both_synced, csrf, library
from tests.web.test_friend_code_guard import sign_in_as


def people_on(page) -> list[str]:
    section = page.text.split('<section class="people">')[1].split("</section>")[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in section.split('class="person"')[1:]]


def person_row(page, name: str) -> str:
    section = page.text.split('<section class="people">')[1].split("</section>")[0]
    return next(row for row in section.split("<li>")[1:] if f">{name}<" in row)


def client_of(web, demo_spotify, spotify_id: str) -> webtest.TestApp:
    """A browser of its own, signed in as ``spotify_id``."""
    client = webtest.TestApp(web.app, extra_environ={"REMOTE_ADDR": "198.51.100.20"})
    sign_in_as(client, demo_spotify, spotify_id, then_csrf=False)
    return client


def test_following_a_code_s_link_grants_nothing_and_the_button_lets_both_in(web, demo_spotify):
    cleo, ben = client_of(web, demo_spotify, "cleo"), client_of(web, demo_spotify, "ben")
    ben_user = User.get(User.spotify_id == "ben")
    cleo_user = User.get(User.spotify_id == "cleo")
    library(ben_user, {"Secret Band": 10})

    # Following Ben's link asks first, and shows nothing of Ben's library.
    ask = cleo.get(f"/compare/{ben_user.friend_code}")
    assert "Compare with Ben?" in ask.text and "Secret Band" not in ask.text
    assert cleo.get(f"/with/{ben_user.id}", status=404).status_int == 404
    assert ben.get(f"/with/{cleo_user.id}", status=404).status_int == 404
    assert not ComparedWith.can_see(cleo_user, ben_user)
    assert ComparedWith.select().count() == 0

    # Pressing the page's own button (a POST with the CSRF token) lets both in.
    [form] = [f for f in ask.forms.values() if "friend_code" in f.fields]
    assert form.action == "/compare" and form["friend_code"].value == ben_user.friend_code
    answer = form.submit()
    assert answer.status_int == 303 and answer.headers["Location"].endswith(f"/with/{ben_user.id}")
    assert "Secret Band" in cleo.get(f"/with/{ben_user.id}").text
    assert ben.get(f"/with/{cleo_user.id}").status_int == 200
    # Both lists say so plainly.
    assert "Ben can see your library" in person_row(cleo.get("/"), "Ben")
    cleo_row = person_row(ben.get("/"), cleo_user.name)
    assert f"{cleo_user.name} can see your library, through your friend code" in cleo_row


def test_a_cross_site_post_without_the_token_or_an_intent_through_sign_in_grants_nothing(
    web, demo_spotify
):
    ben_user = User.sign_in("ben", "Ben", {})
    cleo = client_of(web, demo_spotify, "cleo")

    # A form on another site: no CSRF token.
    refused = cleo.post("/compare", {"friend_code": ben_user.friend_code}, status="*")
    assert refused.status_int == 403
    # The share link's sign-in, with the code as where to go next: it lands on the question.
    signed_out = webtest.TestApp(web.app)
    welcome = signed_out.get(f"/compare/{ben_user.friend_code}")
    assert f"/login?next=/compare/{ben_user.friend_code}" in welcome.text
    sign_in_as(signed_out, demo_spotify, "dmitri", then_csrf=False)
    landed = signed_out.get(f"/compare/{ben_user.friend_code}")
    assert "Compare with Ben?" in landed.text

    assert ComparedWith.select().count() == 0


def test_a_new_friend_code_ends_the_sight_of_those_let_in_through_the_old_one_unless_kept(
    web, demo_spotify
):
    ben = client_of(web, demo_spotify, "ben")
    cleo = client_of(web, demo_spotify, "cleo")
    dmitri = client_of(web, demo_spotify, "dmitri")
    ben_user = User.get(User.spotify_id == "ben")
    compare_with(cleo, ben_user)
    compare_with(dmitri, ben_user)
    dmitri_user = User.get(User.spotify_id == "dmitri")

    # Ben keeps Dmitri, then gets a new code.
    token = csrf(ben.get("/"))
    assert ben.post(f"/people/{dmitri_user.id}/keep", {"csrf_token": token}).status_int == 303
    ben.post("/friend-code", {"csrf_token": token})

    assert cleo.get(f"/with/{ben_user.id}", status=404).status_int == 404
    assert dmitri.get(f"/with/{ben_user.id}").status_int == 200
    # Ben still sees Cleo's library: Cleo let him in by her own act.
    cleo_user = User.get(User.spotify_id == "cleo")
    assert ben.get(f"/with/{cleo_user.id}").status_int == 200
    assert f"{cleo_user.name} cannot see your library." in person_row(ben.get("/"), cleo_user.name)


def test_stop_sharing_ends_sight_at_once_and_bars_the_same_code_until_invited_again(
    web, demo_spotify
):
    ben = client_of(web, demo_spotify, "ben")
    cleo = client_of(web, demo_spotify, "cleo")
    ben_user, cleo_user = (User.get(User.spotify_id == n) for n in ("ben", "cleo"))
    compare_with(cleo, ben_user)

    token = csrf(ben.get("/"))
    ben.post(f"/people/{cleo_user.id}/remove", {"csrf_token": token})

    # At once, though Cleo holds Ben's current code in a link.
    assert cleo.get(f"/with/{ben_user.id}", status=404).status_int == 404
    assert cleo.get(f"/api/compare/{ben_user.friend_code}", status=403).status_int == 403
    assert "Compare with Ben?" in cleo.get(f"/compare/{ben_user.friend_code}").text
    again = cleo.post(
        "/compare",
        {"friend_code": ben_user.friend_code, "csrf_token": csrf(cleo.get("/"))},
        status="*",
    )
    assert again.status_int == 403 and "Ben has taken back your access" in again.text
    assert cleo.get(f"/with/{ben_user.id}", status=404).status_int == 404
    assert "You cannot see theirs." in person_row(cleo.get("/"), "Ben")

    # Until Ben shares again by his own act.
    ben.post(f"/people/{cleo_user.id}/invite", {"csrf_token": token})
    assert cleo.get(f"/with/{ben_user.id}").status_int == 200


def test_a_new_code_lifts_the_bar(web, demo_spotify):
    ben = client_of(web, demo_spotify, "ben")
    cleo = client_of(web, demo_spotify, "cleo")
    ben_user, cleo_user = (User.get(User.spotify_id == n) for n in ("ben", "cleo"))
    compare_with(cleo, ben_user)
    token = csrf(ben.get("/"))
    ben.post(f"/people/{cleo_user.id}/remove", {"csrf_token": token})
    ben.post("/friend-code", {"csrf_token": token})
    ben_user = User.get(User.id == ben_user.id)

    assert compare_with(cleo, ben_user) == f"/with/{ben_user.id}"


def test_inviting_needs_the_person_on_your_list(web, demo_spotify):
    ben = client_of(web, demo_spotify, "ben")
    stranger = User.sign_in("stranger", "Stranger", {})

    ben.post(f"/people/{stranger.id}/invite", {"csrf_token": csrf(ben.get("/"))})

    assert ComparedWith.select().count() == 0


def test_the_list_holds_the_latest_opening_first_with_its_match(db):
    ana, ben, cleo = (User.sign_in(n, n.title(), {}) for n in ("ana", "ben", "cleo"))
    ComparedWith.let_in(ana, ben, 0.5)
    ComparedWith.let_in(cleo, ana, 0.25)
    hour_ago = utcnow() - dt.timedelta(hours=1)
    ComparedWith.update(seen_at=hour_ago).where(
        (ComparedWith.other == ben.id) | (ComparedWith.owner == ben.id)
    ).execute()

    people = ComparedWith.people_of(ana)
    assert [(p.user.name, p.match) for p in people] == [("Cleo", 0.25), ("Ben", 0.5)]
    assert all(p.sees_mine and p.i_see_theirs for p in people)
    assert ComparedWith.update_match(ana, ben, 0.5) == 0  # unchanged: nothing written
    assert ComparedWith.update_match(ana, ben, 0.75) == 2


def test_the_finished_match_shows_in_both_lists(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"A": 10, "B": 20})
    library(ben, {"A": 10})
    both_synced(cleo, ben)

    assert "Nobody can see your library" in web.get("/").text
    web.get(compare_with(web, ben))

    home = web.get("/")
    assert people_on(home) == ["Ben"]
    # Ben's one artist is all in Cleo's library: the headline match is 100%.
    assert "100% match" in home.text
    assert f'href="/with/{ben.id}"' in home.text
    assert ben.friend_code not in home.text  # the list never hands out a code
    assert [p.user.name for p in ComparedWith.people_of(ben)] == [cleo.name]


def test_deleting_an_account_removes_it_from_every_list(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    compare_with(web, ben)
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
    assert ben.image_url == f"{demo_spotify.base_url}/open/image/ben/300.jpg"  # the largest
    assert dmitri.image_url is None
    compare_with(web, ben)
    compare_with(web, dmitri)

    home = web.get("/")
    ben_row, dmitri_row = person_row(home, "Ben"), person_row(home, "Dmitri")
    assert f'<img class="person-picture" src="{ben.image_url}"' in ben_row
    assert "person-picture" not in dmitri_row and 'class="monogram"' in dmitri_row
    assert demo_spotify.http.get(ben.image_url, timeout=10).status_code == 200


def test_an_id_too_large_or_not_a_number_is_no_one_and_changes_nothing(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    compare_with(web, ben)
    token = csrf(web.get("/"))
    before = sorted(re.sub(r"seen_at=[^,]*", "", repr(r.__data__)) for r in ComparedWith.select())

    for crafted in ("99999999999999999999999", "-1", "0x1", "%C2%B2"):
        answer = web.post(f"/people/{crafted}/remove", {"csrf_token": token}, status="*")
        assert answer.status_int == 404, crafted
        assert "There is no such person" in answer.text

    after = sorted(re.sub(r"seen_at=[^,]*", "", repr(r.__data__)) for r in ComparedWith.select())
    assert after == before
    assert people_on(web.get("/")) == ["Ben"]


def _database_as_of_0008_with_old_lists(tmp_path) -> dict[str, int]:
    """The app's database rebuilt by the scripts before 0009, holding lists made the old
    way (opening a comparison by GET put both people on each other's lists): Ana and Ben
    on each other's, and Cléo's row for Ben, which she had removed. Their ids by name."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrations import Runner

    from models import database, migrations

    folder = tmp_path / "before-0009"
    folder.mkdir()
    for script in migrations.DIRECTORY.glob("[0-9]*.py"):
        if script.name < "0009":
            shutil.copy(script, folder)
    migrations.drop_all()
    with SchemaMigrator.from_database(database).migration_context():
        Runner(database.obj, directory=str(folder), table_name="schema_migration").up()
    p, now = database.param, utcnow()
    ids = {}
    for name, code in (("ana", "ANA0000000"), ("ben", "BEN0000000"), ("cleo", "CQE0000000")):
        database.execute_sql(
            f'INSERT INTO "user" (spotify_id, display_name, friend_code, needs_reauth, '
            f"created_at) VALUES ({p}, {p}, {p}, {p}, {p})",
            (name, name.title(), code, False, now),
        )
        ids[name] = database.execute_sql(
            f'SELECT id FROM "user" WHERE spotify_id = {p}', (name,)
        ).fetchone()[0]
    for owner, other, hidden in (("ana", "ben", False), ("ben", "ana", False),
                                 ("cleo", "ben", True), ("ben", "cleo", False)):  # fmt: skip
        database.execute_sql(
            f"INSERT INTO compared_with (owner_id, other_id, match, seen_at, hidden) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            (ids[owner], ids[other], 0.25, now, hidden),
        )
    return ids


def test_lists_from_before_migration_0009_stay_and_each_owner_can_cut_them(
    web, demo_spotify, tmp_path
):
    from models import migrations

    ids = _database_as_of_0008_with_old_lists(tmp_path)

    assert "0009_access_by_consent" in migrations.upgrade().applied

    ana, ben, cleo = (client_of(web, demo_spotify, n) for n in ("ana", "ben", "cleo"))
    # The rows stay: Ana and Ben still see each other's library, and each list says so.
    assert ben.get(f"/with/{ids['ana']}").status_int == 200
    assert ana.get(f"/with/{ids['ben']}").status_int == 200
    row = person_row(ana.get("/"), "Ben")
    assert "Ben can see your library." in row and "Stop sharing" in row
    # They count as Ana's own act: her new friend code does not end them.
    ana.post("/friend-code", {"csrf_token": csrf(ana.get("/"))})
    assert ben.get(f"/with/{ids['ana']}").status_int == 200
    # Cléo's row, removed before, stays removed, and her code of then is barred to Ben.
    assert ben.get(f"/with/{ids['cleo']}", status=404).status_int == 404
    again = ben.post(
        "/compare", {"friend_code": "CQE0000000", "csrf_token": csrf(ben.get("/"))}, status="*"
    )
    assert again.status_int == 403 and "has taken back your access" in again.text

    # Ana cuts Ben off: at once.
    ana.post(f"/people/{ids['ben']}/remove", {"csrf_token": csrf(ana.get("/"))})
    assert ben.get(f"/with/{ids['ana']}", status=404).status_int == 404
    assert "Ben cannot see your library." in person_row(ana.get("/"), "Ben")
    assert cleo.get(f"/with/{ids['ben']}").status_int == 200  # Ben's own row for Cléo stays
