"""Names and strings from Spotify (and from jobs) that carry HTML and script are escaped on
every page, in every fragment and in both SVG charts, and come back from the JSON API as
the very same strings: no tag, attribute or link of theirs ever reaches the browser."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import markupsafe

from actors.testing import job_finished, wait_for
from config.settings import ROOT
from jobs import queueing
from models import Artist, ArtistListeners, JobRun, User, UserArtist
from models.artist import ArtistFields
from models.db import utcnow
from models.job_run import user_subject
from spotify_demo.names import SPECIAL_ARTIST_NAMES
from tests.web.comparing import opened
from web.http.static_files import StaticFiles

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "&amp;",
    "]]>",
    "</svg><script>alert(2)</script>",
    "'><svg onload=alert(3)>",
    "<![CDATA[<b>x</b>]]>",
    "{{ 7*7 }}{% raw %}",
)
# Links Spotify could send for an artist: only http(s) ones may become links.
URLS = ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>", '"><b>')
SORTS = ("listeners", "-listeners", "name", "-name")
# The app's own script and inline handlers: anything else is someone else's.
OWN_HANDLERS = {
    "onclick": "this.select()",
    "onsubmit": "return confirm('Delete your overlap data?');",
}
DANGEROUS_TAGS = {"img", "iframe", "object", "embed", "style", "base", "image", "use", "animate",
                  "set", "foreignobject", "math", "frame", "frameset", "applet"}  # fmt: skip
# The one style element a page may hold: the site's own stylesheet, which the policy lets
# in by its hash (web/http/static_files.py). Any other is as dangerous as ever.
OWN_STYLE = f"<style>{StaticFiles(ROOT / 'static').text('style.css')}</style>"
LINK_ATTRIBUTES = {"href", "src", "action", "formaction", "hx-get", "hx-post", "xlink:href"}


class _Parsed(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def assert_safe(response, shown: tuple[str, ...] = (), statuses=(200, 286)) -> None:
    """No tag, handler or link but the app's own, the SVGs are well-formed XML, and each
    of ``shown`` is on the page, escaped, and reads back as itself."""
    where = response.request.path_qs
    assert response.status_int in statuses, (where, response.status)
    raw = response.text.replace(OWN_STYLE, "", 1)
    assert "<script>alert" not in raw and "<img" not in raw and "<svg onload" not in raw, where
    page = _Parsed(raw)
    for tag, attrs in page.tags:
        assert tag not in DANGEROUS_TAGS, (where, tag, attrs)
        if tag == "script":
            # Only the app's own files, deferred: never an inline script.
            assert set(attrs) == {"src", "defer"}, (where, attrs)
            assert re.fullmatch(r"/static/[\w.-]+\.js", attrs["src"]), (where, attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                assert OWN_HANDLERS.get(name) == value, (where, tag, name, value)
            if name in LINK_ATTRIBUTES:
                assert re.match(r"(/(?!/)|https?://|#)", value or ""), (where, tag, name, value)
    text = "".join(page.texts)
    for value in shown:
        assert str(markupsafe.escape(value)) in raw, (where, value)
        assert value in text, (where, value)
    for svg in re.findall(r"<svg\b.*?</svg>", raw, flags=re.S):
        ET.fromstring(svg)  # an unescaped "</svg>", "]]>" or "&" would break it


def assert_same_strings(response, expected: set[str]) -> dict:
    """A JSON answer, sent as JSON that browsers never sniff, holding ``expected`` as is."""
    assert response.content_type == "application/json"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    data = response.json

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    missing = expected - set(strings(data))
    assert not missing, (response.request.path_qs, missing)
    return data


def hostile_library(user: User, names: list[str]) -> list[int]:
    """Artists named ``names`` (with hostile links), in ``user``'s library, counted."""
    fields = [
        ArtistFields(f"hostile{i:015d}", name, URLS[i % len(URLS)] if i < len(URLS) else
                     f"https://open.example/artist?a={i}&b=<{i}>", None, True)
        for i, name in enumerate(names)
    ]  # fmt: skip
    ids = list(Artist.upsert_many(fields).values())
    UserArtist.link_many(user.id, ids, "followed")
    for n, artist_id in enumerate(ids):
        ArtistListeners.record(artist_id, 10 ** (n % 7) + n)
    User.update(last_synced_at=utcnow()).where(User.id == user.id).execute()
    return ids


def test_hostile_names_are_escaped_on_every_page_fragment_chart_and_answer(
    web, signed_in_web, csrf_of
):
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    User.update(display_name=PAYLOADS[5]).where(User.id == cleo.id).execute()
    assert_safe(web.get("/loading"), shown=(PAYLOADS[5],))
    for path in ("/loading", "/sync-status"):
        assert_safe(web.get(path, headers={"HX-Request": "true"}))
    ben = User.sign_in("ben", PAYLOADS[4], {})
    shared = hostile_library(cleo, list(PAYLOADS))
    UserArtist.link_many(ben.id, shared, "saved_track")
    Artist.upsert_many([ArtistFields("only0ben00000000000000", PAYLOADS[0] + " solo",
                                     "https://x", None, True)])  # fmt: skip
    UserArtist.link_many(ben.id, [Artist.get(spotify_id="only0ben00000000000000").id], "followed")
    User.update(last_synced_at=utcnow()).where(User.id == ben.id).execute()
    job = JobRun.latest_for(queueing.UPDATE_USER, user_subject(cleo.id))
    JobRun.update(status="failed", error=PAYLOADS[1], progress_message=PAYLOADS[3]).where(
        JobRun.id == job.id
    ).execute()

    for sort in ("name", "listeners", "-listeners"):
        assert_safe(web.get(f"/?sort={sort}"), shown=(*PAYLOADS, PAYLOADS[5]))
    for sort in SORTS:
        url = f"{opened(web, ben)}?sort={sort}"
        for headers in ({}, {"HX-Request": "true"}):
            answer = web.get(url, headers=headers, status=(200, 286))
            assert_safe(answer, shown=(*PAYLOADS, PAYLOADS[4], PAYLOADS[0] + " solo"))
            [chart] = re.findall(r'<figure class="chart">\s*(<svg\b.*?</svg>)', answer.text, re.S)
            assert PAYLOADS[4] in "".join(ET.fromstring(chart).itertext())
        data = assert_same_strings(
            web.get(f"/api/compare/{ben.friend_code}?sort={sort}"),
            {*PAYLOADS, PAYLOADS[4], PAYLOADS[0] + " solo", *URLS},
        )
        assert {a["name"] for a in data["shared"]} == set(PAYLOADS)
    assert_same_strings(web.get("/api/me"), {PAYLOADS[5]})
    assert_same_strings(web.get(f"/api/jobs/{job.id}"), {PAYLOADS[1], PAYLOADS[3]})
    for bad in PAYLOADS:  # refusals never echo what they were sent
        answer = web.post("/compare", {"friend_code": bad, "csrf_token": csrf_of(web.get("/"))},
                          expect_errors=True)  # fmt: skip
        assert_safe(answer, statuses=(400, 404, 429))


def test_hostile_job_fields_are_escaped_on_every_dashboard_page_and_chart(web, signed_in_web):
    signed_in_web("emma")  # the demo's admin
    hostile, _ = JobRun.open(
        message_id='m-"><img src=x onerror=alert(1)>',
        actor="<script>alert(1)</script>",
        args=list(PAYLOADS),
        subject="user:</svg><script>alert(2)</script>",
        queue="]]>",
        requested_by="'><svg onload=alert(3)>",
        status="failed",
    )
    JobRun.update(error=PAYLOADS[6], traceback=PAYLOADS[7] + "\n" + PAYLOADS[0],
                  progress_message=PAYLOADS[2], totals={"<b>": PAYLOADS[4]},
                  finished_at=utcnow()).where(JobRun.id == hostile.id).execute()  # fmt: skip
    fields = (hostile.actor, hostile.subject, hostile.queue, hostile.requested_by, PAYLOADS[6],
              PAYLOADS[2], hostile.message_id)  # fmt: skip

    overview = web.get("/admin")
    assert_safe(overview, shown=(hostile.actor, hostile.subject, PAYLOADS[6]))
    assert "Messages that succeeded and failed tries per minute" in overview.text  # the chart
    assert_safe(web.get("/admin", headers={"HX-Request": "true"}))
    listing = (hostile.actor, hostile.subject, hostile.requested_by)
    assert_safe(web.get("/admin/jobs"), shown=listing)
    for name in ("actor", "subject"):
        assert_safe(web.get("/admin/jobs", params={name: getattr(hostile, name)}), shown=listing)
    page = web.get(f"/admin/jobs/{hostile.id}")
    assert_safe(page, shown=(*fields, PAYLOADS[7]))
    assert "\\u003cscript\\u003e" in page.text  # the arguments, as JSON made safe for HTML
    assert_safe(web.get(f"/admin/jobs/{hostile.id}", headers={"HX-Request": "true"}, status=286))
    assert_same_strings(web.get(f"/api/jobs/{hostile.id}"), {hostile.actor, PAYLOADS[6]})


def test_the_demo_catalogs_hostile_names_survive_a_real_sync_escaped(
    web, signed_in_web, worker, csrf_of
):
    signed_in_web("cleo")  # Cléo follows every special name of the demo catalog
    cleo = User.get(User.spotify_id == "cleo")
    job = JobRun.latest_for(queueing.UPDATE_USER, user_subject(cleo.id))
    assert wait_for(job_finished(job.id), 120, "Cléo's sync").status == "succeeded"
    hostile = [n for n in SPECIAL_ARTIST_NAMES if set(n) & set("<>&\"'")]
    ids = [Artist.get(Artist.name == name).id for name in hostile]
    ben = User.sign_in("ben", "Ben", {})
    UserArtist.link_many(ben.id, ids, "followed")

    seen = "".join(web.get(f"/?sort=name&page={n}").text for n in range(1, 6))
    # One page holds them all (fewer than 50); page 2 would be past the end, a 400.
    found = web.get(f"{opened(web, ben)}?sort=name", status=(200, 286)).text
    for name in hostile:
        escaped = str(markupsafe.escape(name))
        assert escaped in seen and escaped in found, name
    assert "<script>alert" not in seen + found
    for n in range(1, 6):
        assert_safe(web.get(f"/?sort=name&page={n}"))
    shared = web.get(f"/api/compare/{ben.friend_code}?limit=200").json["shared"]
    assert {a["name"] for a in shared} == set(hostile)
