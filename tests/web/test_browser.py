"""A real headless Chromium (Debian's, driven by Playwright) signs in to the demo, copies
the share link, is told a wrong code under the field, opens a comparison, sees rows appear
while the syncs run (focus kept across polls, one polite live line that changes, no verdict
before complete, no layout shift), sees the polling stop, fits a phone's width, welcomes a
signed-out friend, refreshes, and deletes the account through htmx's confirm; all under the
app's strict Content Security Policy, which it never sees violated."""

from __future__ import annotations

import time

import pytest

# Imported here too for the browser tests that still import them from this module (the
# fixture live_app comes from tests/web/conftest.py).
from tests.web.browser_helpers import (  # noqa: F401
    BROWSER_TESTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_OVERFLOW,
    axe_problems,
    live_app,
)

pytestmark = BROWSER_TESTS

# Sums the layout shifts not caused by input, from first paint on (buffered entries).
LAYOUT_SHIFTS = """
window.__layoutShift = 0;
new PerformanceObserver(list => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__layoutShift += e.value;
}).observe({type: 'layout-shift', buffered: true});
"""
# Each shift with what moved, to say where a failing sum came from.
SHIFT_SOURCES = """
window.__shifts = [];
new PerformanceObserver(list => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shifts.push(
    [Math.round(e.value * 1000) / 1000, Math.round(e.startTime)].concat(e.sources.map(s =>
      (s.node ? (s.node.id || s.node.className || s.node.nodeName) : "?") + " "
      + Math.round(s.previousRect.y) + "->" + Math.round(s.currentRect.y)
      + " h" + Math.round(s.previousRect.height) + "->" + Math.round(s.currentRect.height))));
}).observe({type: 'layout-shift', buffered: true});
"""


# The fill waits for every count of Ben's library ("Up to date"): more than the default
# limit on a machine busy with other tests.
@pytest.mark.timeout(900)
def test_sign_in_compare_watch_it_fill_in_and_refresh(
    live_app,  # noqa: F811  (the fixture)
    sign_in,
    demo_spotify,
    tmp_path,
):
    from playwright.sync_api import sync_playwright

    ben = sign_in("ben")  # the friend: signed in once, never synced
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        # Chromium reports each blocked inline script or style, eval or foreign load as a
        # console error; the init script also records the DOM's violation events.
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # A failed load is reported without its address; the answers say which one it was.
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        page.add_init_script(LAYOUT_SHIFTS)
        page.add_init_script(SHIFT_SOURCES)

        first = page.goto(live_app)
        assert "default-src 'self'" in first.headers["content-security-policy"]
        page.click("text=Sign in with Spotify")
        page.click("text=Cléo")  # the demo Spotify's consent page
        # A first sign-in lands on the loading page, which moves on by itself once the sync
        # is done (Cléo's small library may be loaded before the browser even gets there).
        page.wait_for_url(f"{live_app}/", timeout=90_000)
        assert "Hello, Cleo" in page.content() or "Hello, Cléo" in page.content()

        # Copy puts the share link on the clipboard (the share sheet is not in headless
        # Chromium on Linux, so its button stays hidden).
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        link = page.input_value("[data-share-link] input")
        page.click("button:has-text('Copy link')")
        page.wait_for_selector("text=Link copied.")
        assert page.evaluate("navigator.clipboard.readText()") == link
        assert page.is_hidden("text=(select it, then copy)")

        # A wrong code: the error under the field, what was typed kept, still on home.
        page.fill("input[name=friend_code]", "ZZZZZ-ZZZZZ")
        page.click("button:has-text('Compare')")
        page.wait_for_selector("#friend-code-error")
        assert "No one has that friend code" in page.inner_text("#friend-code-error")
        assert page.input_value("input[name=friend_code]") == "ZZZZZ-ZZZZZ"
        assert page.url == f"{live_app}/"

        # Slow Spotify down while Ben's library loads, so the page polls at least three
        # times before it is complete.
        demo_spotify.set_faults(latency_ms=150)
        page.fill("input[name=friend_code]", ben.friend_code)
        page.click("button:has-text('Compare')")
        page.wait_for_url(f"{live_app}/with/{ben.id}*")
        assert page.get_attribute("#comparison", "data-complete") == "false"
        # While it fills in: the ring, its figure said to be unfinished, no verdict, no
        # "Up to date".
        assert page.is_visible("svg.ring")
        meaning = page.inner_text(".score-words p.meaning")
        assert meaning.endswith(("once both libraries are loaded.", "(so far)."))
        # Focus a link inside the polled part, and mark the element object (a property: a
        # morph sets the attributes to the server's): a poll that replaced the element
        # instead of morphing it would lose both the focus and the mark.
        page.focus("#comparison a[href$='sort=name']")
        page.evaluate("document.activeElement.keptAcrossPolls = true")
        live: list[str] = []
        polls_seen = 0
        # The flag and the text read in one step: a poll landing between two reads would
        # pair an unfinished flag with the finished page's words.
        snapshot = "() => { const c = document.querySelector('#comparison');"
        snapshot += " return [c.dataset.complete, c.innerText]; }"
        while (state := page.evaluate(snapshot))[0] == "false":
            text = state[1]
            assert "underground" not in text and "Up to date" not in text
            live.append(page.inner_text("[aria-live=polite]"))
            if polls_seen < 3:
                with page.expect_response(lambda r: "/with/" in r.url, timeout=120_000):
                    pass
                polls_seen += 1
                page.wait_for_timeout(100)  # the swap settles after the answer
                kept = page.evaluate("document.activeElement.keptAcrossPolls === true")
                assert kept, f"focus lost after poll {polls_seen}"
                if polls_seen == 3:
                    # Seen polling: the rest of the fill (every count of Ben's library, for
                    # "Up to date") at full speed.
                    demo_spotify.set_faults(latency_ms=0)
            else:
                time.sleep(0.5)
        assert polls_seen == 3
        demo_spotify.set_faults(latency_ms=0)
        assert page.locator("[aria-live=polite]").count() == 1
        live.append(page.inner_text("[aria-live=polite]"))
        assert len(set(live)) >= 2 and live[-1].startswith("Up to date"), live
        assert "8 shared artists" in page.content()
        assert page.locator(".grid .tile").count() == 8  # the rarest shared, as pictures
        page.wait_for_timeout(500)
        shift = page.evaluate("window.__layoutShift")
        shifts = page.evaluate("window.__shifts")
        assert shift < 0.05, f"cumulative layout shift {shift}: {shifts}"
        page.screenshot(path=str(tmp_path / "comparison.png"), full_page=True)

        # An artist's page, from the grid (the table starts after its 12 places).
        artist_path = page.get_attribute(".grid .tile a", "href")
        assert artist_path.endswith(f"?with={ben.id}")
        page.click(".grid .tile a")
        # One month held so far (this test's database is new): said in words, not drawn.
        page.wait_for_selector("p.history-one")
        assert "monthly listeners in" in page.inner_text("p.history-one")
        assert page.locator("figure.history").count() == 0
        assert "Ben" in page.inner_text("ul.who")
        # Your people: the home page now lists Ben, linked to the comparison.
        page.goto(live_app)
        assert page.inner_text(".people-list a.person") == "Ben"
        assert page.get_attribute(".people-list a.person", "href") == f"/with/{ben.id}"
        page.goto(f"{live_app}/with/{ben.id}")

        # Phones: nothing wider than the screen, on the comparison, its lists, an artist.
        page.set_viewport_size({"width": 390, "height": 844})
        phone_pages = (f"{live_app}/with/{ben.id}/only-you", f"{live_app}{artist_path}")
        for url in (page.url, *phone_pages, live_app):
            page.goto(url)
            assert page.evaluate(NO_OVERFLOW), url
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{live_app}/with/{ben.id}")

        # A signed-out friend following the link is welcomed first, with a preview.
        stranger = browser.new_context(viewport={"width": 390, "height": 844})
        welcome = stranger.new_page()
        welcome.goto(f"{live_app}/compare/{ben.friend_code}")
        assert welcome.inner_text("h1") == "Ben wants to compare music with you"
        preview = welcome.get_attribute("meta[property='og:title']", "content")
        assert preview == "Ben wants to compare music with you"
        assert welcome.evaluate(NO_OVERFLOW)
        stranger.close()

        # axe-core on every page a person meets here, light and dark: nothing serious.
        signed_in = page.context.storage_state()
        code = ben.friend_code
        for scheme in ("light", "dark"):
            for state, paths in (
                (None, ["/", f"/compare/{code}"]),
                (signed_in, ["/", f"/with/{ben.id}", f"/with/{ben.id}/only-you",
                             "/compare/ZZZZZZZZZZ", artist_path]),
            ):  # fmt: skip
                # The CSP (rightly) refuses the injected script, so this context skips it.
                context = browser.new_context(
                    bypass_csp=True, color_scheme=scheme, storage_state=state
                )
                checked = context.new_page()
                for path in paths:
                    checked.goto(f"{live_app}{path}")
                    assert axe_problems(checked) == [], (scheme, path)
                context.close()

        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if "/with/" in r.url else None)
        time.sleep(5)
        assert polls == []  # the finished state carries no trigger: polling has stopped

        page.goto(live_app)
        page.click("button:has-text('Reload my whole library')")
        page.wait_for_selector("text=/waiting to be loaded|Loading your library|is loaded/")
        page.wait_for_selector("text=Your library is loaded", timeout=90_000)

        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        page.click("button:has-text('Delete my data')")
        page.wait_for_selector("text=Your data is deleted")
        assert dialogs == ["Delete your overlap data?"]
        browser.close()
    assert [url for url in failed if not url.endswith("/favicon.ico")] == []
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
