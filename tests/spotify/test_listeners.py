"""Artist pages: the parser (listeners, name, picture) on real-shaped and odd pages, and the
page client on the demo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import Settings
from spotify.errors import BadResponse, NotFound, RateLimited, ServerError, SpotifyTimeout
from spotify.listeners import (
    ArtistPage,
    ListenerPageClient,
    parse_artist_page,
    parse_monthly_listeners,
)
from spotify_demo.harness import DemoSpotify


def artist_page(body: str = "", og: str | None = None) -> str:
    """An artist page shaped like open.spotify.com's server-rendered HTML."""
    meta = f'<meta property="og:description" content="{og}"/>' if og is not None else ""
    return (
        '<!DOCTYPE html><html lang="en" dir="ltr"><head><meta charSet="utf-8"/>'
        "<title>Daft Punk | Spotify</title>"
        '<meta property="og:site_name" content="Spotify"/>'
        '<meta property="og:title" content="Daft Punk"/>'
        f"{meta}"
        '<meta property="og:type" content="profile"/>'
        '<script id="initial-state" type="text/plain">eyJ0ZXN0IjoxfQ==</script>'
        "</head><body><div id='main'><h1>Daft Punk</h1>"
        f"{body}"
        "<section><h2>Popular</h2><ol><li>Get Lucky</li><li>One More Time</li></ol></section>"
        "</div></body></html>"
    )


# --- the exact figure in the body ---------------------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        ('<span class="Type__TypeElement">3,625,445 monthly listeners</span>', 3_625_445),
        ("<div><span>3,625,445</span> monthly listeners</div>", 3_625_445),
        ("<span>3,625,445<!-- --> <!-- -->monthly listeners</span>", 3_625_445),
        ("<p>3,625,445&nbsp;monthly listeners</p>", 3_625_445),
        ("<p>3,625,445&#160;monthly&#xA0;listeners</p>", 3_625_445),
        ("<p>3,625,445\u00a0monthly listeners</p>", 3_625_445),
        ("<p>3\u202f625\u202f445 monthly listeners</p>", 3_625_445),
        ("<p>3&thinsp;625&thinsp;445 monthly listeners</p>", 3_625_445),
        ("<p>3.625.445 monthly listeners</p>", 3_625_445),
        ("<p>1 monthly listener</p>", 1),
        ("<p>0 monthly listeners</p>", 0),
        ("<p>950 Monthly Listeners</p>", 950),
        ("<p>12,345\n  monthly\n  listeners</p>", 12_345),
        ("<p>12,345 <b>monthly listeners</b></p>", 12_345),
    ],
)
def test_the_exact_figure_in_the_body_is_read(body: str, expected: int) -> None:
    assert parse_monthly_listeners(artist_page(body)) == expected


def test_the_exact_body_figure_wins_over_the_rounded_og_description() -> None:
    page = artist_page(
        "<span>2,512,345 monthly listeners</span>", "Artist · 2.5M monthly listeners."
    )
    assert parse_monthly_listeners(page) == 2_512_345


def test_figures_in_neighbouring_elements_do_not_merge() -> None:
    page = artist_page("<div>Top 10</div><div>3,625 monthly listeners</div>")
    assert parse_monthly_listeners(page) == 3_625


def test_text_inside_scripts_styles_and_comments_is_not_the_figure() -> None:
    body = (
        "<script>var t = '5 monthly listeners';</script>"
        "<style>.x:after{content:'6 monthly listeners'}</style>"
        "<!-- 7 monthly listeners -->"
        "<p>8 monthly listeners</p>"
    )
    assert parse_monthly_listeners(artist_page(body)) == 8


def test_escaped_markup_in_an_artist_name_does_not_hide_the_figure() -> None:
    body = "<h2>&lt;script&gt;alert(1)&lt;/script&gt; Band</h2><p>42 monthly listeners</p>"
    assert parse_monthly_listeners(artist_page(body)) == 42


# --- the rounded figure of og:description ------------------------------------------------


@pytest.mark.parametrize(
    "meta, expected",
    [
        ('<meta property="og:description" content="Artist · 2.5M monthly listeners."/>', 2_500_000),
        (
            '<meta property="og:description" content="Artist · 24.3M monthly listeners.">',
            24_300_000,
        ),
        ('<meta property="og:description" content="Artist · 1.2K monthly listeners.">', 1_200),
        ('<meta property="og:description" content="Artist · 812K monthly listeners.">', 812_000),
        (
            '<meta property="og:description" content="Artist · 1.1B monthly listeners.">',
            1_100_000_000,
        ),
        ('<meta property="og:description" content="Artist · 950 monthly listeners.">', 950),
        ('<meta property="og:description" content="Artist · 1 monthly listener.">', 1),
        (
            "<meta content='Artist &#183; 2.5M monthly listeners.' property='og:description'>",
            2_500_000,
        ),
        (
            '<META CONTENT="Artist &middot; 3M monthly listeners" PROPERTY="OG:DESCRIPTION">',
            3_000_000,
        ),
        ('<meta name="og:description" content="Artist · 7.25K monthly listeners.">', 7_250),
        ("<meta property=og:description content='Artist · 4K monthly listeners.'>", 4_000),
        (
            '<meta\n  property="og:description"\n  content="Artist · 2,5M monthly listeners."\n/>',
            2_500_000,
        ),
        ('<meta property="og:description" content="Artist · 12,345 monthly listeners.">', 12_345),
    ],
)
def test_the_rounded_og_description_figure_is_read_when_the_body_has_none(
    meta: str, expected: int
) -> None:
    page = f"<html><head>{meta}</head><body><h1>Someone</h1></body></html>"
    assert parse_monthly_listeners(page) == expected


def test_other_metas_with_a_figure_are_not_og_description() -> None:
    page = (
        '<meta name="description" content="Listen on Spotify. Artist · 9M monthly listeners.">'
        '<meta property="og:description" content="Artist · 2M monthly listeners.">'
    )
    assert parse_monthly_listeners(page) == 2_000_000


# --- nothing to read -------------------------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [
        "",
        artist_page(),
        artist_page(og="Listen to Daft Punk on Spotify."),
        artist_page("<p>2.5M monthly listeners</p>"),
        artist_page("<p>monthly listeners</p>"),
        "<html><body><p>404 - page not found</p></body></html>",
        "<<<<<<<<<<<<",
        "<script>3 monthly listeners",
        "<!-- 3 monthly listeners",
        '<meta property="og:description" content="Artist · M monthly listeners.">',
        "1" * 5000 + " monthly listeners",
        "\x00\udcff\U0010ffff &#99999999999; &#x; &bogus; monthly listeners",
    ],
)
def test_pages_without_a_readable_figure_give_none(page: str) -> None:
    assert parse_monthly_listeners(page) is None


def test_a_huge_adversarial_page_is_parsed_quickly() -> None:
    import time

    # The parser's own CPU time, not the wall clock: what would grow with backtracking is
    # the work, and on a loaded machine the wall clock mostly measures the wait for a core.
    started = time.thread_time()
    for page in ("<" * 200_000, "<script" * 30_000, "<meta a='" * 30_000, "1\u00a0111" * 40_000):
        assert parse_monthly_listeners(page) is None
    assert time.thread_time() - started < 2


# --- properties ------------------------------------------------------------------------

_HTMLISH = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            [
                "<",
                ">",
                "</",
                "<p>",
                "</p>",
                "<script>",
                "</script>",
                "<!--",
                "-->",
                "&nbsp;",
                "&#",
                ";",
                "monthly",
                " listeners",
                " listener",
                "monthly listeners",
                ",",
                ".",
                "K",
                "M",
                "B",
                "1",
                "23",
                "456",
                "\u00a0",
                "\u202f",
                '<meta property="og:description"',
                ' content="',
                '"',
                "'",
                "/>",
                "Artist · ",
                "<style>",
                "</style>",
                "&",
                "<meta ",
            ]
        ),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(st.text(), _HTMLISH))
def test_no_input_makes_the_parser_raise(page: str) -> None:
    result = parse_monthly_listeners(page)
    assert result is None or (isinstance(result, int) and result >= 0)


# Text between elements: anything without markup characters or digits that could merge.
_SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Nd"], blacklist_characters="<>&"),
    max_size=30,
).filter(lambda t: "monthly" not in t.lower())
_ELEMENT = st.builds(
    lambda tag, text: f"<{tag}>{text}</{tag}>",
    st.sampled_from(["p", "div", "span", "h1", "li", "a", "button"]),
    _SAFE_TEXT,
)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    before=st.lists(_ELEMENT, max_size=8),
    after=st.lists(_ELEMENT, max_size=8),
    figure=st.integers(min_value=0, max_value=10**12),
    separator=st.sampled_from([",", "\u202f", "&nbsp;", "&#8239;"]),
    space=st.sampled_from([" ", "&nbsp;", "\u00a0", "\u2009", "<!-- --> ", "</span> "]),
    rounded=st.sampled_from(
        ["", "Artist · 2.5M monthly listeners.", "Artist · 950 monthly listeners."]
    ),
)
def test_an_exact_figure_embedded_in_random_html_is_found(
    before: list[str],
    after: list[str],
    figure: int,
    separator: str,
    space: str,
    rounded: str,
) -> None:
    shown = f"{figure:,}".replace(",", separator)
    page = (
        f'<html><head><meta property="og:description" content="{rounded}"></head><body>'
        + "".join(before)
        + f"<div><span>{shown}{space}monthly listener{'' if figure == 1 else 's'}</span></div>"
        + "".join(after)
        + "</body></html>"
    )
    assert parse_monthly_listeners(page) == figure


# --- name and picture from the Open Graph head ------------------------------------------

PAGES = Path(__file__).parent / "pages"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "with_picture.html",
            ArtistPage(
                23_412_908,
                "Radiohead",
                "https://i.scdn.co/image/ab6761610000e5eba03696716c9ee605006047fd",
            ),
        ),
        ("without_picture.html", ArtistPage(412, "Les Amis du Quartier", None)),
        (
            "escaped_name.html",
            ArtistPage(
                9_100_000,
                'Simon & Garfunkel <3 "live"',
                "https://i.scdn.co/image/ab67616d0000b2735c7d2e79ba4ab19e2e0e1fd4",
            ),
        ),
    ],
)
def test_a_real_shaped_page_gives_listeners_name_and_picture(
    fixture: str, expected: ArtistPage
) -> None:
    page = parse_artist_page((PAGES / fixture).read_text(encoding="utf-8"))
    assert page == expected
    assert page.has_head


@pytest.mark.parametrize(
    "image", ["javascript:alert(1)", "data:image/svg+xml,<svg/>", "//evil.example/x.png", ""]
)
def test_a_picture_that_is_not_a_web_address_is_dropped(image: str) -> None:
    page = parse_artist_page(
        f'<html><head><meta property="og:title" content="A"/>'
        f'<meta property="og:image" content="{image}"/></head></html>'
    )
    assert (page.name, page.image_url) == ("A", None)


def test_a_page_without_the_open_graph_head_has_no_head() -> None:
    page = parse_artist_page("<html><body><h1>Daft Punk</h1>12 monthly listeners</body></html>")
    assert page == ArtistPage(12, None, None)
    assert not page.has_head


def test_the_first_of_two_og_titles_is_the_name() -> None:
    page = parse_artist_page(
        '<meta property="og:title" content="First"><meta property="og:title" content="Second">'
    )
    assert page.name == "First"


# --- the page client against the demo Spotify ------------------------------------------


@pytest.fixture
def demo_settings(demo_spotify: DemoSpotify, tmp_path: Path) -> Settings:
    """App settings pointing at the demo Spotify, with a var/ of the test's own."""
    return demo_spotify.settings(OVERLAP_VAR_DIR=str(tmp_path)).but(spotify_timeout=5.0)


@pytest.fixture
def pages(demo_settings: Settings) -> Iterator[ListenerPageClient]:
    """A listener-page client of the demo Spotify."""
    client = ListenerPageClient(demo_settings)
    yield client
    client.close()


def test_the_demo_pages_give_the_catalog_figures(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    catalog = demo_spotify.catalog
    # Cléo follows the artists with tricky names; add some whose page shows no figure.
    hidden = [a.id for a in catalog.artists if not a.listeners_shown][:5]
    assert hidden, "the catalog has no artist without a figure: the test would prove less"
    artist_ids = [*catalog.user("cleo").followed, *hidden]
    assert any("<" in catalog.artist(i).name for i in artist_ids), "no name with markup"
    found = {artist_id: pages.monthly_listeners(artist_id) for artist_id in artist_ids}
    assert found == {artist_id: catalog.monthly_listeners(artist_id) for artist_id in artist_ids}
    assert demo_spotify.stats()["requests"]["open"] == len(artist_ids)


def test_the_page_is_asked_for_in_english(
    demo_spotify: DemoSpotify, demo_settings: Settings
) -> None:
    session = requests.Session()
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, **_: sent.append(response.request))
    ListenerPageClient(demo_settings, session).monthly_listeners(demo_spotify.catalog.artists[0].id)
    assert [r.headers["Accept-Language"] for r in sent] == ["en"]


def test_the_demo_pages_give_the_catalog_names_and_pictures(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    catalog = demo_spotify.catalog
    pictured = next(a for a in catalog.artists if a.has_image)
    bare = next(a for a in catalog.artists if not a.has_image)

    with_picture, without = pages.artist_page(pictured.id), pages.artist_page(bare.id)

    assert (with_picture.name, without.name) == (pictured.name, bare.name)
    assert with_picture.image_url and with_picture.image_url.endswith(f"/{pictured.id}/640.jpg")
    assert without.image_url is None and without.has_head


def test_a_page_without_the_figure_gives_none(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    demo_spotify.set_faults(no_listeners_rate=1)
    shown = next(a for a in demo_spotify.catalog.artists if a.listeners_shown)
    assert pages.monthly_listeners(shown.id) is None


def test_an_unknown_artist_page_is_not_found(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    with pytest.raises(NotFound):
        pages.monthly_listeners("0" * 22)


def test_a_rate_limited_page_is_one_request_with_retry_after_on_the_open_host(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    demo_spotify.set_faults(pages_rate_limit=1, rate_window_s=20)
    artist_id = demo_spotify.catalog.artists[0].id
    pages.monthly_listeners(artist_id)
    with pytest.raises(RateLimited) as caught:
        pages.monthly_listeners(artist_id)
    assert caught.value.host_kind == "open"
    assert 15 <= caught.value.retry_after <= 20
    assert demo_spotify.stats()["requests"]["open"] == 2


def test_a_failing_page_is_a_server_error(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    demo_spotify.set_faults(fault_rate=1)
    with pytest.raises(ServerError):
        pages.monthly_listeners(demo_spotify.catalog.artists[0].id)
    assert demo_spotify.stats()["requests"]["open"] == 1


def test_a_cut_off_page_is_a_bad_response_not_a_rounded_figure(
    demo_spotify: DemoSpotify, pages: ListenerPageClient
) -> None:
    # Half the page: its <meta> gives the rounded figure, the exact one was further down.
    demo_spotify.set_faults(truncate_rate=1)
    with pytest.raises(BadResponse):
        pages.monthly_listeners(demo_spotify.catalog.user("cleo").followed[0])
    assert demo_spotify.stats()["requests"]["open"] == 1


def test_a_stalled_page_is_a_timeout(demo_spotify: DemoSpotify, demo_settings: Settings) -> None:
    demo_spotify.set_faults(timeout_rate=1, timeout_seconds=2)
    pages = ListenerPageClient(demo_settings.but(spotify_timeout=0.3))
    with pytest.raises(SpotifyTimeout):
        pages.monthly_listeners(demo_spotify.catalog.artists[0].id)
