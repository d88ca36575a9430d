"""An artist's public page: the monthly listeners (the Web API does not give them), and the
artist's name and picture, so that no Web API call is needed for those.

The page body holds the exact figure ("3,625,445 monthly listeners"); the ``og:description``
meta holds a rounded one ("Artist · 2.5M monthly listeners."). We prefer the exact one. The
``og:title`` meta is the artist's name and ``og:image`` their picture. The parser uses
linear scans and regular expressions that cannot backtrack badly, and never raises: what a
page does not show, or shows in a shape we do not know, is None.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import quote

import requests

from config.settings import Settings
from spotify.errors import BadResponse, RateLimited, error_for_status, raise_for_requests
from spotify.gate import SpotifyGate

# Beyond this many digits a figure is garbage, and int() of a huge string would raise.
MAX_DIGITS = 15

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# Group separators: comma (en), dot (de), apostrophe (ch) and the no-break and thin spaces
# (fr and others). Not the plain space: "Top 10 3,625 monthly listeners" must not merge.
_SEP = "[,.'\u2019\u00a0\u202f\u2007\u2008\u2009\u200a]"
_EXACT = re.compile(
    rf"(?<![0-9])(?<![0-9]{_SEP})([0-9]{{1,3}}(?:{_SEP}[0-9]{{3}})+|[0-9]+)\s*monthly\s+listeners?\b",
    re.IGNORECASE,
)
_ROUNDED = re.compile(
    r"(?<![0-9])(?<![0-9][.,])(?:(?P<grouped>[0-9]{1,3}(?:,[0-9]{3})+)|(?P<plain>[0-9]+(?:[.,][0-9]+)?))"
    r"\s*(?P<suffix>[KMB])?\s*monthly\s+listeners?\b",
    re.IGNORECASE,
)
_SUFFIXES = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}
# A tag starts with a letter, "/", "!" or "?"; a lone "<" in text is not one.
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
_META = re.compile(r"<meta\b[^<>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+)))?""")
# Comments, scripts and styles hold no visible text (but may hold look-alike strings).
_HIDDEN_OPENING = re.compile(r"<!--|<(script|style)\b", re.IGNORECASE)
_HIDDEN_CLOSING = {
    None: re.compile(r"-->"),
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}


# The longest name or picture address we keep; longer is not a real page's.
MAX_META_CHARS = 2000


@dataclass(frozen=True)
class ArtistPage:
    """What an artist's page shows: each field None when the page does not show it."""

    listeners: int | None
    name: str | None
    image_url: str | None

    @property
    def has_head(self) -> bool:
        """Whether the page has the Open Graph head of an artist page (a name, at least).

        Such a page without ``og:image`` is an artist without a picture: the Web API would
        have none either, so it is not asked.
        """
        return self.name is not None


def parse_artist_page(page: str) -> ArtistPage:
    """The listeners, name and picture an artist page's HTML shows."""
    if not isinstance(page, str):
        return ArtistPage(None, None, None)
    metas = _og_metas(page)
    image = metas.get("og:image")
    if image is not None and not image.lower().startswith(("https://", "http://")):
        image = None  # Only a web address may become an <img src>.
    return ArtistPage(
        listeners=_listeners(page, metas),
        name=metas.get("og:title") or None,
        image_url=image or None,
    )


def parse_monthly_listeners(page: str) -> int | None:
    """The artist's monthly listeners from the page's HTML: exact if shown, else rounded."""
    if not isinstance(page, str):
        return None
    return _listeners(page, _og_metas(page))


def _listeners(page: str, metas: dict[str, str]) -> int | None:
    exact = _exact_figure(page)
    return exact if exact is not None else _rounded_figure(metas.get("og:description", ""))


def _exact_figure(page: str) -> int | None:
    """The first "N monthly listeners" in the visible text of the page."""
    text = _drop_hidden(page)
    # Tags become line breaks, so that figures in neighbouring elements never merge.
    text = _TAG.sub("\n", text)
    text = html.unescape(text).translate(_ZERO_WIDTH)
    for match in _EXACT.finditer(text):
        digits = re.sub(r"[^0-9]", "", match.group(1))
        if len(digits) <= MAX_DIGITS:
            return int(digits)
    return None


def _og_metas(page: str) -> dict[str, str]:
    """The first content of each ``og:*`` meta tag, unescaped and stripped."""
    found: dict[str, str] = {}
    for tag in _META.finditer(page):
        attrs: dict[str, str] = {}
        for name, *values in _ATTR.findall(tag.group(0)[5:]):
            attrs.setdefault(name.lower(), next((v for v in values if v), ""))
        kind = (attrs.get("property") or attrs.get("name") or "").strip().lower()
        if not kind.startswith("og:") or kind in found:
            continue
        content = html.unescape(attrs.get("content", "")).translate(_ZERO_WIDTH).strip()
        if len(content) <= MAX_META_CHARS:
            found[kind] = content
    return found


def _rounded_figure(description: str) -> int | None:
    """The figure in the ``og:description`` text, with its K/M/B suffix applied."""
    for match in _ROUNDED.finditer(description):
        figure = _scaled(match)
        if figure is not None:
            return figure
    return None


def _scaled(match: re.Match[str]) -> int | None:
    """The number of a rounded match times its suffix, or None if it is not a sane number."""
    if match.group("grouped"):
        number = match.group("grouped").replace(",", "")
    else:
        # "2,5M" is a decimal comma; a plain figure has no group separators left.
        number = match.group("plain").replace(",", ".")
    if len(number) > MAX_DIGITS:
        return None
    try:
        value = Decimal(number) * _SUFFIXES[(match.group("suffix") or "").upper()]
    except InvalidOperation:
        return None
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _drop_hidden(text: str) -> str:
    """``text`` without comments, scripts and styles (an unclosed one runs to the end)."""
    kept: list[str] = []
    position = 0
    while (opening := _HIDDEN_OPENING.search(text, position)) is not None:
        kept.append(text[position : opening.start()])
        kind = opening.group(1).lower() if opening.group(1) else None
        closing = _HIDDEN_CLOSING[kind].search(text, opening.end())
        if closing is None:
            return "".join(kept)
        position = closing.end()
    kept.append(text[position:])
    return "".join(kept)


class ListenerPageClient:
    """Fetches artists' public pages (one request per call, no retries) for their listeners."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        gate: SpotifyGate | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self._session = session or requests.Session()

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    def monthly_listeners(self, spotify_id: str) -> int | None:
        """The artist's monthly listeners, or None when the page does not show them."""
        return self.artist_page(spotify_id).listeners

    def artist_page(self, spotify_id: str) -> ArtistPage:
        """What the artist's page shows (one request): listeners, name and picture."""
        url = f"{self.settings.spotify_open_url}/artist/{quote(spotify_id, safe='')}"
        what = f"the page of artist {spotify_id}"
        if self.gate is not None:
            self.gate.before_request("open")
        try:
            # The page is localised; the parser reads the English wording and digits.
            response = self._session.get(
                url, headers={"Accept-Language": "en"}, timeout=self.settings.spotify_timeout
            )
        except requests.RequestException as exc:
            raise_for_requests(exc, what)
        if response.status_code >= 400:
            error = error_for_status(response.status_code, response.headers, "open", what)
            if isinstance(error, RateLimited) and self.gate is not None:
                # Every process stops fetching pages until Spotify's Retry-After has passed.
                self.gate.pause("open", error.retry_after)
            raise error
        page = response.text
        # A page cut off in transit may hold the rounded figure of its <meta> but not the
        # exact one further down, or neither: it must not pass for the artist's page.
        if not page.rstrip().lower().endswith("</html>"):
            raise BadResponse(f"Spotify's answer for {what} was cut off")
        return parse_artist_page(page)
