"""Static files by content-hashed names cached for a year, the stylesheet minified and carried
inline by the pages (let in by its hash alone), text answers gzipped (pages only for
requests from the site itself), and the favicon."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re

from config.settings import ROOT
from tests.web.test_security_headers import csp_of
from web.http.static_files import StaticFiles, hashed_name

OWN_SITE = {"Accept-Encoding": "gzip, br", "Sec-Fetch-Site": "same-origin"}


def raw_get(web, path: str, **headers: str) -> tuple[dict[str, str], bytes]:
    """The app's answer as sent, headers and body (WebTest would decode the gzip)."""
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }  # fmt: skip
    sent: dict[str, str] = {}
    body = b"".join(web.app(environ, lambda status, pairs, *_: sent.update(pairs)))
    return sent, body


def test_pages_name_static_files_by_their_content_hash_and_those_are_cached_a_year(web):
    page = web.get("/").text
    script = re.search(r'<script src="(/static/local-time\.[0-9a-f]{10}\.js)" defer>', page)
    assert script is not None

    answer = web.get(script.group(1))

    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # The plain name still answers, briefly cached, for a link kept from before.
    assert web.get("/static/style.css").headers["Cache-Control"] == "public, max-age=3600"


def test_pages_carry_the_stylesheet_inline_and_minified_and_the_policy_lets_in_only_it(web):
    answer = web.get("/")
    inline = re.findall(r"<style>(.*?)</style>", answer.text, re.S)
    styles = csp_of(answer)["style-src"].split()

    # One stylesheet, the one static/ serves (minified): no link that holds back the paint.
    assert inline == [web.get("/static/style.css").text]
    assert '<link rel="stylesheet"' not in answer.text
    # Its hash, and the other stylesheet's, and nothing that would let in any inline style.
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert styles[0] == "'self'" and f"'sha256-{digest}'" in styles and len(styles) == 3
    assert "unsafe" not in answer.headers["Content-Security-Policy"]


def test_the_stylesheet_is_minified_and_its_source_kept_readable(web):
    answer = web.get(StaticFiles(ROOT / "static").url("style.css"))

    # Minified: no comments, no line per rule; the source keeps both.
    source = (ROOT / "static" / "style.css").read_text()
    assert "/*" in source and "/*" not in answer.text
    assert len(answer.body) < 0.8 * len(source.encode())
    assert answer.body.decode() == answer.text and answer.text.count("\n") <= 1


def test_a_changed_file_gets_a_new_name(tmp_path):
    (tmp_path / "a.js").write_text("one")
    before = StaticFiles(tmp_path).url("a.js")
    (tmp_path / "a.js").write_text("two")
    after = StaticFiles(tmp_path).url("a.js")

    assert before != after and before == f"/static/{hashed_name('a.js', b'one')}"


def test_text_answers_are_gzipped_for_the_site_itself_but_not_for_another_site(web):
    own_headers, own = raw_get(web, "/", **OWN_SITE)
    cross_headers, cross = raw_get(web, "/", **{**OWN_SITE, "Sec-Fetch-Site": "cross-site"})
    plain_headers, plain = raw_get(web, "/")

    assert own_headers["Content-Encoding"] == "gzip"
    # The same page (each with its own new session's CSRF token), a good deal smaller.
    unpacked = gzip.decompress(own)
    assert unpacked.startswith(b"<!doctype html>") and len(unpacked) == len(plain) == len(cross)
    assert len(own) < 0.7 * len(plain)
    assert "Content-Encoding" not in cross_headers and "Content-Encoding" not in plain_headers
    assert "Accept-Encoding" in own_headers["Vary"] and "Sec-Fetch-Site" in own_headers["Vary"]


def test_static_text_is_gzipped_for_any_request_that_accepts_it(web):
    url = StaticFiles(ROOT / "static").url("htmx.min.js")

    headers, packed = raw_get(web, url, **{"Accept-Encoding": "gzip"})

    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed) == (ROOT / "static" / "htmx.min.js").read_bytes()
    assert "Content-Encoding" not in raw_get(web, url)[0]


def test_the_favicon_is_linked_and_answers_at_the_address_browsers_guess(web):
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', web.get("/").text)

    assert web.get(icon.group(1)).content_type == "image/svg+xml"
    assert web.get("/favicon.ico").headers["Location"].endswith(icon.group(1))
    assert web.get("/robots.txt").text.startswith("User-agent: *")
    assert web.get("/static/nothing.css", status=404).status_int == 404


def test_the_landing_page_describes_itself_and_signed_in_pages_stay_out_of_search(
    web, signed_in_web
):
    landing = web.get("/").text
    assert landing.count('<meta name="description" content="Sign in with Spotify') == 1
    assert landing.count('name="description"') == 1 and "noindex" not in landing
    assert "htmx" not in landing.split("</head>")[0].split('name="htmx-config"')[1]  # no use
    signed_in_web("cleo")

    assert '<meta name="robots" content="noindex">' in web.get("/").text
