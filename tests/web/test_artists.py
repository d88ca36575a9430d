"""An artist's page: its listener history as an SVG chart, who of the two has it and from
where, the friend taken from ``?with=<id>`` and shown only when they let the viewer in;
and the comparison's links to it and its mark on artists whose listeners moved by more
than half."""

from __future__ import annotations

import html
import re

from models import Artist, ArtistListeners, User, current_month
from tests.web.comparing import opened
from tests.web.test_compare import both_synced, library


def artist(name: str) -> Artist:
    return Artist.get(Artist.name == name)


def test_the_artist_page_charts_the_months_held_and_says_who_has_them(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Nova": 3_000})
    library(ben, {"Nova": None}, source="saved_album")
    nova = artist("Nova")
    ArtistListeners.record(nova.id, 1_000, month="2025-01")
    ArtistListeners.record(nova.id, 1_500, month="2025-02")
    ArtistListeners.record(nova.id, 2_000, month="2025-06")
    opened(web, ben)

    page = web.get(f"/artists/{nova.spotify_id}?with={ben.id}")

    text = html.unescape(page.text)
    assert page.status_int == 200 and "<h1>Nova</h1>" in text
    svg = text.split("<svg")[1].split("</svg>")[0]
    # One point a month held, oldest first; a line only through months next to each other
    # (a month without a count is a gap), and a label at each year.
    assert svg.count("<circle") == 4
    assert "2025-01: 1,000 listeners" in svg and f"{current_month()}: 3,000 listeners" in svg
    assert svg.count("<polyline") == 1
    years = re.findall(r'font-size="12">(\d{4})</text>', svg)
    assert years == [str(y) for y in range(2025, int(current_month()[:4]) + 1)]
    who = text.split('<ul class="who">')[1].split("</ul>")[0]
    assert 'You</strong>: <span class="chip">followed</span>' in who
    assert 'Ben</strong>: <span class="chip">saved album</span>' in who
    assert f'href="/with/{ben.id}"' in text


def test_one_month_of_counts_is_said_in_words_not_drawn(web, signed_in_web):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Fresh": 12_345})

    page = web.get(f"/artists/{artist('Fresh').spotify_id}").text

    assert "<svg" not in page.split("<main")[1]
    assert f"12,345 monthly listeners in {current_month()}: the one month" in page


def test_an_artist_with_no_count_says_so_without_a_chart(web, signed_in_web):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Quiet": None})

    page = web.get(f"/artists/{artist('Quiet').spotify_id}")

    assert "<svg" not in page.text.split("<main")[1] and "No listener count is held" in page.text


def test_a_friend_who_did_not_let_you_in_or_a_wrong_artist_is_refused(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    library(ben, {"Nova": 10}, source="saved_album")
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Nova": 10})
    sid = artist("Nova").spotify_id

    # Ben has not let Cleo in: his id shows nothing of his, as no such person does.
    not_shared = web.get(f"/artists/{sid}?with={ben.id}", expect_errors=True)
    assert not_shared.status_int == 404 and "saved album" not in not_shared.text
    for wrong in ("nope", "99999999999999999999999", str(cleo.id), ben.friend_code):
        assert web.get(f"/artists/{sid}?with={wrong}", expect_errors=True).status_int == 404
    assert web.get("/artists/nobody", expect_errors=True).status_int == 404
    # A NUL names no artist (PostgreSQL refused it in the query: a 500 before).
    assert web.get("/artists/%00", expect_errors=True).status_int == 404
    assert web.get("/artists/a%00b", expect_errors=True).status_int == 404


def test_every_list_links_to_the_artist_page(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": 10, "Mine": 20})
    library(ben, {"Shared": 10, "Theirs": 30})
    both_synced(cleo, ben)
    link = "/artists/{}?with=" + str(ben.id)

    comparison = web.get(opened(web, ben)).text
    shared_link = link.format(artist("Shared").spotify_id)
    # The grid links the shared artist (the table below starts after the grid's), and so
    # does the table in another order.
    assert comparison.count(f'href="{shared_link}"') == 1
    assert f'href="{shared_link}"' in web.get(f"{opened(web, ben)}?sort=name").text
    assert f'href="{link.format(artist("Mine").spotify_id)}"' in comparison
    assert f'href="{link.format(artist("Theirs").spotify_id)}"' in comparison
    only = web.get(f"{opened(web, ben)}/only-them").text
    assert f'href="{link.format(artist("Theirs").spotify_id)}"' in only
    home = web.get("/").text
    assert f'href="/artists/{artist("Mine").spotify_id}"' in home


def test_shared_artists_that_grew_or_fell_by_more_than_half_are_marked(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    names = {"Rising": 1_600, "Falling": 400, "Steady": 1_400}
    for user in (cleo, ben):
        library(user, names)
    both_synced(cleo, ben)
    for name in names:
        ArtistListeners.record(artist(name).id, 1_000, month="2024-03")

    rows = {
        row.split("</a>")[0].rsplit(">", 1)[1]: row
        for row in web.get(f"{opened(web, ben)}?sort=name").text.split("<tr>")[2:]
    }

    assert "grew by over half" in rows["Rising"] and "fell" not in rows["Rising"]
    assert "fell by over half" in rows["Falling"]
    assert "over half" not in rows["Steady"]


def test_an_artist_exists_only_to_who_has_it_or_sees_someone_who_has_it(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    dina = User.sign_in("dina", "Dina", {})
    library(ben, {"Bens Band": 10})
    library(dina, {"Dinas Band": 10})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Cleos Band": 10})
    opened(web, ben)  # Cleo and Ben see each other's library; nobody shares with Dina

    def status(name: str) -> int:
        return web.get(f"/artists/{artist(name).spotify_id}", status="*").status_int

    assert status("Cleos Band") == 200
    assert status("Bens Band") == 200
    unknown = web.get(f"/artists/{artist('Dinas Band').spotify_id}", status="*")
    assert unknown.status_int == 404 and "overlap knows no artist by that id" in unknown.text
    assert web.get("/artists/nobody", status="*").text == unknown.text
