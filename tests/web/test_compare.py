"""Comparing with a friend: the code form, the page that renders at once from the
database, the polling fragment that stops when everything is in, and the JSON API."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from actors.testing import enqueued
from models import Artist, ArtistListeners, JobRun, User, UserArtist
from models.artist import ArtistFields
from models.db import utcnow
from sync.library_stamps import LibraryStamps
from tests.web.comparing import opened
from web.http import services as app_services


def csrf(page) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def library(user: User, names: dict[str, int | None], source: str = "followed") -> None:
    """Give ``user`` these artists (name -> monthly listeners, None: no row yet)."""
    ids = Artist.upsert_many(
        [ArtistFields(f"{n:0>22}"[-22:], n, f"https://open.example/{n}", None, True) for n in names]
    )
    UserArtist.link_many(user.id, ids.values(), source)
    for name, listeners in names.items():
        if listeners is not None:
            ArtistListeners.record(ids[f"{name:0>22}"[-22:]], listeners)


def landed(web, artist_id: int) -> None:
    """What update_artist does after its commit: touch the stamps of the artist's people."""
    LibraryStamps(app_services.of(web.app).redis_ref).touch_artist(artist_id)


def both_synced(*users: User) -> None:
    for user in users:
        User.update(last_synced_at=utcnow()).where(User.id == user.id).execute()
    JobRun.update(status="succeeded").execute()


def test_posting_a_friend_code_answers_303_to_the_comparison(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")

    response = web.post(
        "/compare", {"friend_code": ben.friend_code.lower(), "csrf_token": csrf(web.get("/"))}
    )

    assert response.status_int == 303
    assert response.headers["Location"].endswith(f"/with/{ben.id}")


def test_a_malformed_or_unknown_code_is_a_clear_message(web, signed_in_web):
    signed_in_web("cleo")
    token = csrf(web.get("/"))
    for code, status, words in [
        ("", 400, "not a friend code"),
        ("<script>alert(1)</script>", 400, "not a friend code"),
        ("ZZZZZZZZZZ", 404, "No one has that friend code"),
    ]:
        response = web.post(
            "/compare", {"friend_code": code, "csrf_token": token}, expect_errors=True
        )
        assert response.status_int == status
        assert words in response.text
        assert "<script>alert(1)</script>" not in response.text
    page = web.get("/compare/' OR 1=1 --", expect_errors=True)
    assert page.status_int == 404


def test_my_own_code_is_a_clear_message(web, signed_in_web):
    signed_in_web("cleo")
    me = User.get(User.spotify_id == "cleo")
    response = web.get(f"/compare/{me.friend_code}", expect_errors=True)
    assert response.status_int == 400
    assert "your own code — send it to a friend" in html.unescape(response.text)
    assert "Something is not right" not in response.text


def test_a_refused_code_comes_back_under_the_field_with_what_was_typed(web, signed_in_web):
    signed_in_web("cleo")
    me = User.get(User.spotify_id == "cleo")
    token = csrf(web.get("/"))
    for typed, words in [
        ("zzzz-zzzz-zz", "No one has that friend code"),
        ("nope!", "not a friend code"),
        (me.friend_code.lower(), "your own code — send it to a friend"),
    ]:
        # With htmx: the form alone, swapped in place (htmx swaps only a 2xx).
        fragment = web.post(
            "/compare",
            {"friend_code": typed, "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert fragment.status_int == 200
        assert fragment.text.lstrip().startswith("<form")
        text = html.unescape(fragment.text)
        assert f'value="{typed}"' in text
        assert words in text and 'aria-invalid="true"' in text
        assert 'id="friend-code-error"' in text and "<html" not in text
        # Without JavaScript: the same form on a page, with the real status.
        page = web.post("/compare", {"friend_code": typed, "csrf_token": token}, expect_errors=True)
        assert page.status_int in (400, 404)
        assert f'value="{typed}"' in html.unescape(page.text) and "<html" in page.text


def test_a_good_code_sent_by_htmx_redirects_the_whole_page(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    response = web.post(
        "/compare",
        {"friend_code": ben.friend_code, "csrf_token": csrf(web.get("/"))},
        headers={"HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"] == f"/with/{ben.id}"


def test_guessing_codes_is_rate_limited(web, signed_in_web):
    signed_in_web("cleo")
    token = csrf(web.get("/"))
    statuses = [
        web.post(
            "/compare", {"friend_code": f"ZZZZZZZZ{i:02}", "csrf_token": token}, expect_errors=True
        ).status_int
        for i in range(25)
    ]
    assert statuses[:20] == [404] * 20
    assert set(statuses[20:]) == {429}


def test_following_a_shared_link_signed_out_is_welcomed_before_sign_in(web):
    ben = User.sign_in("ben", "Ben", {})
    library(ben, {"Secret Band": 10})

    response = web.get(f"/compare/{ben.friend_code.lower()}")

    assert response.status_int == 200
    text = html.unescape(response.text)
    assert "<h1>Ben wants to compare music with you</h1>" in text
    assert '<meta property="og:title" content="Ben wants to compare music with you">' in text
    assert f'content="http://127.0.0.1:8000/compare/{ben.friend_code}"' in text
    assert "user-library-read" in text and "Delete my data" in text
    assert f'href="/login?next=/compare/{ben.friend_code}"' in text
    assert "Secret Band" not in text  # nothing of Ben's library before sign-in
    # A poll whose session ended, and the see-all pages, go to sign-in as before.
    poll = web.get(f"/compare/{ben.friend_code}", headers={"HX-Request": "true"})
    assert poll.headers["Location"].endswith(f"/login?next=/compare/{ben.friend_code}")
    assert (
        web.get(f"/with/{ben.id}/only-you")
        .headers["Location"]
        .endswith(f"/login?next=/with/{ben.id}")
    )
    assert web.get("/compare/ZZZZZZZZZZ", expect_errors=True).status_int == 404


def test_the_page_renders_at_once_and_asks_for_stale_syncs(web, signed_in_web, broker):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    broker.flush_all()

    page = web.get(opened(web, ben))

    assert page.status_int == 200
    assert 'hx-trigger="every 2s"' in page.text
    subjects = {m.args[0] for m in enqueued(broker, "interactive")}
    assert ben.id in subjects  # the friend was never synced


def test_shared_artists_sort_rarest_first_and_names_are_escaped(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Big": 5_000_000, "<i>Tiny</i> & Co": 120, "Mine only": 10})
    library(ben, {"Big": 5_000_000, "<i>Tiny</i> & Co": 120, "Ben only": 99})
    both_synced(cleo, ben)

    page = web.get(opened(web, ben))

    assert "2 shared artists" in page.text
    # One headline figure with its meaning beside it, in words; no second "similar" figure.
    assert "similar" not in page.text
    assert "67% match" in page.text and "67% of your artists are in Ben" in page.text
    assert ">67%</text>" in page.text and "ring-arc" in page.text
    assert page.text.index("&lt;i&gt;Tiny&lt;/i&gt; &amp; Co") < page.text.index(">Big<")
    assert "<i>Tiny</i>" not in page.text
    assert "<svg" in page.text and "&lt;i&gt;Tiny" not in page.text.split("<svg")[1][:0]


def test_polling_stops_when_both_syncs_are_done_and_every_count_is_in(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": None})
    library(ben, {"Shared": None})
    both_synced(cleo, ben)

    waiting = web.get(opened(web, ben), headers={"HX-Request": "true"})
    assert waiting.status_int == 200
    assert 'hx-trigger="every 2s"' in waiting.text
    counts = progress_rows(waiting.text)[-1]
    assert counts == ("Listener counts 0 of 1 shared artists, about 5 s", *counts[1:2], "0", "1")

    shared = Artist.get(Artist.name == "Shared").id
    ArtistListeners.record(shared, None)  # tried: no figure
    landed(web, shared)
    done = web.get(opened(web, ben), headers={"HX-Request": "true"}, status=286)

    assert "hx-trigger" not in done.text
    assert 'data-complete="true"' in done.text


def test_the_json_api_gives_the_contracted_keys(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"A": 10, "B": 20, "C": None})
    library(ben, {"A": 10, "B": 20}, source="saved_track")
    both_synced(cleo, ben)
    opened(web, ben)

    data = web.get(f"/api/compare/{ben.friend_code}", params={"limit": 1, "offset": 1}).json

    assert {
        "complete",
        "similarity",
        "shared_count",
        "me",
        "friend",
        "shared",
        "limit",
        "offset",
    } <= set(data)
    assert data["shared_count"] == 2 and data["limit"] == 1 and data["offset"] == 1
    assert abs(data["similarity"] - 2 / 3) < 1e-6
    # Beside it, both directions and the headline: 2 of my 3 artists, both of Ben's 2.
    assert abs(data["my_share"] - 2 / 3) < 1e-6
    assert data["their_share"] == 1.0 and data["match"] == 1.0
    [row] = data["shared"]
    assert row["name"] == "B" and row["monthly_listeners"] == 20
    assert row["my_sources"] == ["followed"] and row["friend_sources"] == ["saved_track"]
    assert set(data["me"]) >= {
        "spotify_id",
        "display_name",
        "artist_count",
        "by_source",
        "median_monthly_listeners",
        "sync",
    }
    assert data["me"]["by_source"] == {"followed": 3, "saved_track": 0, "saved_album": 0}

    me = web.get("/api/me").json
    assert set(me) >= {"spotify_id", "display_name", "friend_code", "last_synced_at", "sync"}
    assert set(me["sync"]) >= {"status", "job_id", "progress"}


def test_the_json_api_refuses_bad_input_clearly(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    assert web.get("/api/me", expect_errors=True).status_int == 401
    signed_in_web("cleo")
    opened(web, ben)
    for params in ({"sort": "bogus"}, {"limit": "-1"}, {"offset": "x"}):
        response = web.get(f"/api/compare/{ben.friend_code}", params=params, expect_errors=True)
        assert response.status_int == 400
        assert "error" in response.json
    assert web.get("/api/compare/nope", expect_errors=True).status_int == 404


def test_another_users_job_is_a_404(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    job, _ = JobRun.open(
        message_id="m-ben",
        actor="update_user",
        args=[ben.id],
        subject=f"user:{ben.id}",
        queue="interactive",
    )
    signed_in_web("cleo")
    mine = web.get("/api/me").json["sync"]["job_id"]

    assert web.get(f"/api/jobs/{job.id}", expect_errors=True).status_int == 404
    assert web.get("/api/jobs/99999999", expect_errors=True).status_int == 404
    assert web.get("/api/jobs/abc", expect_errors=True).status_int == 404
    assert web.get(f"/api/jobs/{mine}").json["status"] == "queued"


def test_no_verdict_and_no_up_to_date_before_the_comparison_is_complete(web, signed_in_web):
    # Given both medians known but one shared artist still waiting for its count.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Small": 100, "Waiting": None})
    library(ben, {"Large": 9_000_000, "Waiting": None})
    both_synced(cleo, ben)

    waiting = web.get(opened(web, ben), headers={"HX-Request": "true"})

    assert "underground" not in waiting.text and "Up to date" not in waiting.text
    waiting_id = Artist.get(Artist.name == "Waiting").id
    ArtistListeners.record(waiting_id, 5_000)
    landed(web, waiting_id)
    done = web.get(opened(web, ben), headers={"HX-Request": "true"}, status=286)
    assert "You listen more underground" in done.text and "Up to date" in done.text


def progress_rows(text: str) -> list[tuple[str, str, str, str]]:
    """Each progress row's words, and its bar's label, value and maximum."""
    box = text.split('class="progress-people"', 1)[1].split("</ul>", 1)[0]
    rows = []
    for item in re.findall(r"<li>(.*?)</li>", box, re.S):
        bar = re.search(r'<progress aria-label="([^"]+)" max="(\d+)"\s+value="(\d+)"', item)
        words = " ".join(re.sub(r"<[^>]+>", " ", item).split())
        rows.append((words, bar.group(1), bar.group(3), bar.group(2)))
    return rows


def test_progress_is_told_in_words_for_people(web, signed_in_web):
    # Given Ben's sync running at page 35 of 43 with an estimate, and mine waiting.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    web.get(opened(web, ben))  # asks for both syncs
    JobRun.update(
        status="running",
        pages_loaded=35,
        pages_total=43,
        eta_at=utcnow() + dt.timedelta(seconds=18),
    ).where(JobRun.subject == f"user:{ben.id}").execute()

    page = web.get(opened(web, ben), headers={"HX-Request": "true"})
    text = html.unescape(page.text)

    # A bar each, with words: Ben's loading, mine waiting, the counts not begun.
    assert progress_rows(text) == [
        ("You waiting to load", "Your library", "0", "1"),
        ("Ben loading, 35 of 43 pages, about 20 s", "Ben's library", "35", "43"),
        (
            "Listener counts no shared artist to look up yet",
            "Listener counts of the shared artists",
            "0",
            "1",
        ),
    ]
    assert "Waiting to load your library…" in text  # the live line: the first step to come
    assert "running" not in text and "queued" not in text
    # One polite live line, inside a box whose height the stylesheet reserves.
    assert page.text.count('aria-live="polite"') == 1
    assert 'class="progress-box"' in page.text


def test_only_one_side_lists_show_their_counts_and_see_all_pages(web, signed_in_web):
    # Given 12 artists only Cléo has (more than the ten the comparison shows), one shared.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": 5, **{f"Mine {i:02}": 100 + i for i in range(12)}})
    library(ben, {"Shared": 5})
    both_synced(cleo, ben)

    page = web.get(opened(web, ben))

    assert 'Only you <span class="count">(12)</span>' in page.text
    assert f'href="/with/{ben.id}/only-you">See all 12' in page.text
    # Ben has nothing of his own: a sentence, not an empty list.
    assert "Nothing: every artist in Ben&#39;s library is shared." in page.text
    mine = web.get(f"{opened(web, ben)}/only-you")
    assert "Mine 11" in mine.text and "Mine 00" in mine.text and ">Shared<" not in mine.text
    assert "(12)" in mine.text and "page 1 of 1" in mine.text
    theirs = web.get(f"{opened(web, ben)}/only-them")
    assert "Every artist of Ben" in html.unescape(theirs.text)
    assert web.get(f"{opened(web, ben)}/only-you?page=x", expect_errors=True).status_int == 400
    assert web.get(f"{opened(web, ben)}/only-us", expect_errors=True).status_int == 404


def test_the_rarest_shared_artists_come_first_as_pictures_the_policy_allows(web, signed_in_web):
    from web.http import security_headers

    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    names = {"Rare": 50, "Common": 9_000_000, "Middle": 40_000}
    for user in (cleo, ben):
        library(user, names)
    both_synced(cleo, ben)
    Artist.update(image_url="https://img.example/rare.jpg").where(Artist.name == "Rare").execute()
    spotify_image = f"{security_headers.SPOTIFY_IMAGES}/image/ab67616d0000b273middle"
    Artist.update(image_url=spotify_image).where(Artist.name == "Middle").execute()
    # An artist picture as Spotify names it (640 px), which it also serves at 320 and 160.
    digest = "0123456789abcdef01234567"
    common = f"{security_headers.SPOTIFY_IMAGES}/image/ab6761610000e5eb{digest}"
    Artist.update(image_url=common).where(Artist.name == "Common").execute()

    page = web.get(opened(web, ben))
    grid = page.text.split('<ul class="grid"')[1].split("</ul>")[0]
    assert [n for n in re.findall(r'tile-name"[^>]*>([^<]+)<', grid)] == [
        "Rare",
        "Middle",
        "Common",
    ]
    # A picture on a host the policy does not allow: a monogram, never a blocked picture.
    assert "img.example" not in grid and 'class="monogram"' in grid
    # A picture on Spotify's image host, which the policy names, is shown.
    assert f'<img src="{spotify_image}" alt=""' in grid
    # The artist picture offers its smaller widths, so a tile loads no more than it shows.
    widths = f"{security_headers.SPOTIFY_IMAGES}/image/ab6761610000"
    assert (
        f'<img src="{common}" srcset="{widths}f178{digest} 160w, {widths}5174{digest} 320w, '
        f'{common} 640w" sizes="(max-width: 600px) 31vw, 10rem"'
    ) in grid
    policy = dict(
        d.strip().split(" ", 1) for d in page.headers["Content-Security-Policy"].split(";")
    )
    assert security_headers.SPOTIFY_IMAGES in policy["img-src"].split()
    # The table below does not list again the artists the pictures show.
    assert "All of them are in the pictures above." in page.text
    assert '<table class="shared">' not in page.text

    # Another sort or page shows the table alone.
    assert '<ul class="grid"' not in web.get(f"{opened(web, ben)}?sort=name").text


def test_the_share_link_is_plain_text_with_copy_and_share_buttons_script_reveals(
    web, signed_in_web
):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")

    page = web.get("/")

    box = page.text.split("data-share-link>")[1].split("</div>")[0]
    assert f'value="http://127.0.0.1:8000/compare/{cleo.friend_code}"' in box
    # Without JavaScript the buttons stay hidden and the hint says what to do.
    assert '<button type="button" class="copy" hidden>Copy link</button>' in box
    assert 'class="share" hidden' in box and "(select it, then copy)" in box
    assert re.search(r'<script src="/static/share\.[0-9a-f]{10}\.js" defer></script>', page.text)
    assert web.get("/static/share.js").text.count("navigator.clipboard") >= 1


def test_polls_morph_the_comparison_and_the_reload_link_goes_once_complete(web, signed_in_web):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": None})
    library(ben, {"Shared": None})
    both_synced(cleo, ben)

    waiting = web.get(opened(web, ben))

    assert re.search(
        r'<script src="/static/idiomorph-ext\.min\.[0-9a-f]{10}\.js" defer>', waiting.text
    )
    assert 'hx-ext="morph"' in waiting.text and 'hx-swap="morph:outerHTML"' in waiting.text
    assert "Reload to see the latest" in waiting.text
    assert "defineExtension" in web.get("/static/idiomorph-ext.min.js").text

    shared = Artist.get(Artist.name == "Shared").id
    ArtistListeners.record(shared, 7)
    landed(web, shared)
    done = web.get(opened(web, ben))
    assert "Reload to see the latest" not in done.text and "hx-trigger" not in done.text


def finished(web, ben: User):
    """The fragment of the comparison with ``ben`` once nothing more is coming (286)."""
    return web.get(opened(web, ben), headers={"HX-Request": "true"}, status=286)


def test_medians_within_a_quarter_of_each_other_give_no_verdict(web, signed_in_web):
    # Given final medians of 24,327 and 24,346 (the review's case), then of 100 and 124.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": 50, "Cleo's": 24_327, "Cleo's too": 90_000})
    library(ben, {"Shared": 50, "Ben's": 24_346, "Ben's too": 90_000})
    both_synced(cleo, ben)

    close = finished(web, ben).text

    assert "24,327" in close and "24,346" in close and "Up to date" in close
    assert "underground" not in close
    assert "You are about the same: your medians are within 25% of each other." in close


@pytest.mark.parametrize(
    ("theirs", "words"), [(124, "about the same"), (126, "You listen more underground")]
)
def test_the_verdict_needs_medians_more_than_a_quarter_apart(web, signed_in_web, theirs, words):
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Mine": 100})
    library(ben, {"His": theirs})
    both_synced(cleo, ben)

    assert words in finished(web, ben).text


def test_medians_are_provisional_and_not_up_to_date_while_any_count_is_missing(web, signed_in_web):
    # Given every shared count in, but one of Ben's own artists still without a count.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": 50, "Mine": 10})
    library(ben, {"Shared": 50, "His": 900_000, "Waiting": None})
    both_synced(cleo, ben)

    filling = web.get(opened(web, ben), headers={"HX-Request": "true"}).text

    # Then it polls (slower), says the medians are provisional and gives no verdict.
    assert 'hx-trigger="every 5s"' in filling and 'data-complete="false"' in filling
    assert "(so far)" in filling and "0 of your artists" in filling
    assert "1 of Ben's listener counts are still being looked up" in filling
    assert "Up to date" not in filling and "underground" not in filling
    assert "1 still without a listener count are listed last" in filling
    # When the last count lands, every figure is final.
    waiting = Artist.get(Artist.name == "Waiting").id
    ArtistListeners.record(waiting, 7)
    landed(web, waiting)
    done = finished(web, ben).text
    assert "Up to date" in done and "(so far)" not in done and "underground" in done


def test_a_failed_load_is_never_up_to_date(web, signed_in_web):
    # Given Ben loaded once, and his latest load failed for good.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Shared": 50})
    library(ben, {"Shared": 50})
    both_synced(cleo, ben)
    JobRun.open(
        message_id="m-ben", actor="update_user", args=[ben.id], subject=f"user:{ben.id}",
        queue="interactive", status="failed",
    )  # fmt: skip

    page = finished(web, ben).text  # nothing more comes by itself: polling stops

    assert "Up to date" not in page and 'data-complete="false"' in page
    assert "Loading Ben&#39;s library failed" in page
    assert "Save image" not in page and "underground" not in page


def test_a_friend_never_loaded_shows_no_match_figure_anywhere(web, signed_in_web):
    # Given Cleo loaded and Ben never synced.
    ben = User.sign_in("ben", "Ben", {})
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    library(cleo, {"Mine": 50})
    User.update(last_synced_at=utcnow()).where(User.id == cleo.id).execute()

    page = web.get(opened(web, ben)).text

    assert "0% match" not in page and "0.0%" not in page
    assert "The match shows once both libraries are loaded." in page and ">…</text>" in page
    # And the home page's list does not record a match either.
    home = web.get("/").text
    assert "match" not in home.split('class="people-list"')[1].split("</ul>")[0]
