"""The web pages of the demo Spotify (``/open``): artist pages shaped like open.spotify.com.

A real artist page says the monthly listeners twice: rounded in ``og:description``
("Artist · 2.5M monthly listeners.") and exact in the body ("3,625,445 monthly listeners").
The listener-page parser reads these, so both appear here in the same form. Pages are
always English, whatever ``Accept-Language`` asks for.
"""

from __future__ import annotations

import functools
import html
import io
import zlib

from bottle import Bottle, HTTPResponse
from PIL import Image, ImageColor, ImageDraw, ImageFont

from spotify_demo.catalog import Artist, Catalog
from spotify_demo.limits import Limits
from spotify_demo.objects import PICTURED_USERS
from spotify_demo.responses import HTML_TYPE, base_url, error_page

_PAGE_HEADERS = {"Content-Type": HTML_TYPE, "Content-Language": "en", "Vary": "Accept-Language"}
_UNITS = ((1_000, "K"), (1_000_000, "M"), (1_000_000_000, "B"))


def compact(count: int) -> str:
    """A count as the page's summary rounds it: 512, 45.3K, 2.5M, 120M."""
    if count < 1_000:
        return str(count)
    for index, (size, suffix) in enumerate(_UNITS):
        value = count / size
        text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
        # 999,960 rounds to "1000K"; Spotify says "1M", so move up a unit.
        if float(text) >= 1_000 and index + 1 < len(_UNITS):
            continue
        return text.removesuffix(".0") + suffix
    raise AssertionError("unreachable")


def artist_page(base: str, artist: Artist, show_listeners: bool, head: bool = True) -> str:
    """The HTML of an artist's page, with or without the listener figures, and with or
    without its Open Graph head (name, summary, picture)."""
    name = html.escape(artist.name)
    url = f"{base}/open/artist/{artist.id}"
    summary = (
        f"Artist · {compact(artist.listeners)} monthly listeners." if show_listeners else "Artist"
    )
    figure = (
        '<div class="Type__TypeElement-sc-goli3j-0 encore-text-body-small" data-encore-id="type">'
        f"{artist.listeners:,} monthly listeners</div>"
        if show_listeners
        else ""
    )
    image = (
        f'<meta property="og:image" content="{base}/open/image/{artist.id}/640.jpg">'
        if artist.has_image
        else ""
    )
    open_graph = f"""<meta property="og:site_name" content="Spotify">
<meta property="og:title" content="{name}">
<meta property="og:description" content="{summary}">
<meta property="og:url" content="{url}">
<meta property="og:type" content="profile">
{image}"""
    return f"""<!DOCTYPE html>
<html lang="en" dir="ltr">
<head>
<meta charset="utf-8">
<title>{name} | Spotify</title>
<meta name="description" content="Listen to {name} on Spotify. {summary}">
{open_graph if head else ""}
<link rel="canonical" href="{url}">
</head>
<body>
<div id="main"><main>
<section data-testid="artist-page" aria-label="{name}">
<span class="Type__TypeElement-sc-goli3j-0 encore-text-body-small">Artist</span>
<h1 class="Type__TypeElement-sc-goli3j-0 encore-text-headline-large">{name}</h1>
{figure}
<p class="demo-note">A page of the demo Spotify.</p>
</section>
</main></div>
</body>
</html>
"""


IMAGE_CACHE = "public, max-age=31536000, immutable"

# Pillow's own font has Latin letters only; the demo's names start with others too.
_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(_DEJAVU, size)
    except OSError:
        return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=256)
def image_jpeg(item_id: str, label: str, size: int) -> bytes:
    """A square placeholder picture, a JPEG as Spotify's image host serves: one colour per
    item, its initial in the middle."""
    hue = zlib.crc32(item_id.encode()) % 360
    picture = Image.new("RGB", (size, size), ImageColor.getrgb(f"hsl({hue},55%,45%)"))
    font = _font(round(size * 0.4))
    ImageDraw.Draw(picture).text(
        (size / 2, size / 2), label[:1].upper() or "?", fill="white", font=font, anchor="mm"
    )
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=80)
    return out.getvalue()


class Pages:
    """Route handlers of the pages host."""

    def __init__(self, catalog: Catalog, limits: Limits) -> None:
        self.catalog = catalog
        self.limits = limits

    def artist(self, artist_id: str) -> HTTPResponse:
        """GET /open/artist/{id}."""
        artist = self.catalog.artist(artist_id)
        if artist is None:
            return error_page(404, "Page not found")
        shown = artist.listeners_shown and not self.limits.roll(
            self.limits.config.no_listeners_rate
        )
        head = not self.limits.roll(self.limits.config.bare_page_rate)
        body = artist_page(base_url(), artist, shown, head)
        return HTTPResponse(body=body.encode(), headers=dict(_PAGE_HEADERS))

    def image(self, item_id: str, size: int) -> HTTPResponse:
        """GET /open/image/{id}/{size}.jpg: an artist's, album's or person's placeholder
        picture."""
        artist = self.catalog.artist(item_id)
        album = self.catalog.albums.get(item_id)
        person = self.catalog.users.get(item_id) if item_id in PICTURED_USERS else None
        named = artist or album or person
        if named is None or not 16 <= size <= 1024:
            return error_page(404, "Image not found")
        # mypy cannot tie ``named is person`` to the person's type; only a person has it.
        label = named.display_name if named is person else named.name  # type: ignore[union-attr]
        # Spotify's image host names a picture by its content, so a picture never changes
        # under its address and is cached for a year, as here.
        return HTTPResponse(
            body=image_jpeg(item_id, label, size),
            headers={"Content-Type": "image/jpeg", "Cache-Control": IMAGE_CACHE},
        )


def install(app: Bottle, catalog: Catalog, limits: Limits) -> None:
    """Add the ``/open`` routes to ``app``."""
    pages = Pages(catalog, limits)
    app.get("/open/artist/<artist_id>", callback=pages.artist)
    app.get("/open/image/<item_id>/<size:int>.jpg", callback=pages.image)
