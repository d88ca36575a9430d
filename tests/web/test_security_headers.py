"""Every answer carries the headers that hold a browser to the pages: a strict CSP with no
inline script, and no inline style but the site's own stylesheet (by its hash), no framing,
a same-origin referrer, HSTS over https, and no-store on what a signed-in person sees; and
no template needs anything inline."""

from __future__ import annotations

import re

import webtest

from config.settings import ROOT
from web.app import create_app
from web.http import services as app_services

TEMPLATES = ROOT / "templates"


def csp_of(answer) -> dict[str, str]:
    policy = answer.headers["Content-Security-Policy"]
    return dict(d.strip().partition(" ")[::2] for d in policy.split(";"))


def test_pages_redirects_and_errors_carry_a_strict_policy(web):
    for answer in (
        web.get("/"),
        web.get("/login"),
        web.get("/nowhere", status=404),
        web.get("/api/me", status=401),
    ):
        csp = csp_of(answer)
        assert csp["default-src"] == "'self'"
        assert csp["script-src"] == "'self'"
        # The site's stylesheets and, inline, only their texts (test_static_files.py).
        assert csp["style-src"].split()[0] == "'self'"
        assert all(s.startswith("'sha256-") for s in csp["style-src"].split()[1:])
        assert "unsafe" not in answer.headers["Content-Security-Policy"]
        assert csp["frame-ancestors"] == "'none'"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in answer.headers  # plain-http demo
        # Pictures: this site, Spotify's image host and, in demo mode, the demo's host.
        demo = app_services.of(web.app).settings.spotify_open_url.rsplit("/", 1)[0]
        assert csp["img-src"].split() == ["'self'", demo, "https://i.scdn.co"]


def test_hsts_is_sent_when_the_app_is_served_over_https(app_settings, broker, db):
    settings = app_settings.but(redis_namespace=broker.namespace, base_url="https://o.example")
    answer = webtest.TestApp(create_app(settings)).get("/")

    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_what_a_signed_in_person_sees_is_never_stored(web, signed_in_web):
    assert "no-store" not in web.get("/").headers.get("Cache-Control", "")  # the landing page
    signed_in_web("cleo")

    for path in ("/", "/sync-status", "/api/me"):
        assert web.get(path).headers["Cache-Control"] == "no-store", path
    assert "public" in web.get("/static/style.css").headers["Cache-Control"]


def test_no_template_holds_inline_script_style_or_event_handlers():
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    # The one inline style: a stylesheet of static/, which the policy lets in by its hash.
    ours = re.compile(r"<style>\{\{ inline_style\('[a-z]+\.css'\) \}\}</style>")
    for template in TEMPLATES.rglob("*.html"):
        found = inline.findall(ours.sub("", template.read_text()))
        assert found == [], f"{template.relative_to(ROOT)}: {found}"


def test_the_welcome_page_that_names_a_person_is_never_cached(web, sign_in):
    ben = sign_in("ben")

    welcome = web.get(f"/compare/{ben.friend_code}")

    assert "Ben" in welcome.text
    assert welcome.headers["Cache-Control"] == "private, no-store"
