"""Gzip for the pages and fragments a route answers with (a Bottle plugin).

A page that holds a secret (the CSRF token, a friend code) and echoes something the
request chose could, compressed, leak the secret through its length to someone who can
both make the browser send many requests and watch their sizes (BREACH). Such requests
come from another site, so only what the browser says came from this site itself, or was
typed or bookmarked (``Sec-Fetch-Site``: ``same-origin`` or ``none``), is compressed. The
session cookie is ``SameSite=Lax`` too, so another site's requests rarely carry it.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from typing import Any

import bottle

from web.http.static_files import COMPRESS_FROM

# Sent by every browser of the last few years; without it (an old browser, a script)
# the answer goes out uncompressed.
OWN_SITE = ("same-origin", "none")
TEXT = ("text/html", "application/json", "text/plain")


def accepts_gzip(environ: dict[str, Any]) -> bool:
    """Whether the client said it reads gzip."""
    return "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "").lower()


def may_compress(environ: dict[str, Any]) -> bool:
    """Whether an answer that may hold a secret can be compressed for this request."""
    return accepts_gzip(environ) and environ.get("HTTP_SEC_FETCH_SITE") in OWN_SITE


def add_vary(response: bottle.BaseResponse, *names: str) -> None:
    """Add ``names`` to the response's ``Vary`` header, keeping what is there."""
    have = [v.strip() for v in response.get_header("Vary", "").split(",") if v.strip()]
    response.set_header("Vary", ", ".join(dict.fromkeys([*have, *names])))


class CompressPlugin:
    """Gzips a route's text answer when the request allows it (see the module's note)."""

    name = "overlap-compress"
    api = 2

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        """Wrap one route's callback."""

        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = callback(*args, **kwargs)
            response = bottle.response
            kind = response.content_type or response.default_content_type
            if not isinstance(result, str) or not kind.startswith(TEXT):
                return result
            add_vary(response, "Accept-Encoding", "Sec-Fetch-Site")
            body = result.encode(response.charset or "utf-8")
            if len(body) < COMPRESS_FROM or not may_compress(bottle.request.environ):
                return result
            response.set_header("Content-Encoding", "gzip")
            return gzip.compress(body, 6, mtime=0)

        return wrapper
