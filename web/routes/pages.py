"""Static files (the vendored htmx, the stylesheet, the scripts, the icon), by their
content-hashed names (``web/http/static_files.py``); the icon and robots.txt at the
addresses browsers and crawlers ask for without being told."""

from __future__ import annotations

import bottle

from web.http.compression import accepts_gzip, add_vary
from web.http.request_context import see_other
from web.http.services import Services
from web.http.static_files import HASHED_CACHE, PLAIN_CACHE

# Every page may be crawled; the welcome and signed-in pages say noindex themselves.
ROBOTS = "User-agent: *\nAllow: /\n"


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the static routes to ``app``."""

    @app.get("/static/<path:path>")
    def static(path: str) -> bottle.HTTPResponse:
        found = services.static.find(path)
        if found is None:
            raise bottle.HTTPError(404)
        response = bottle.HTTPResponse(found.body)
        response.content_type = found.content_type
        response.set_header("Cache-Control", HASHED_CACHE if found.immutable else PLAIN_CACHE)
        if found.gzipped is not None:
            add_vary(response, "Accept-Encoding")
            if accepts_gzip(bottle.request.environ):
                response.body = found.gzipped
                response.set_header("Content-Encoding", "gzip")
        return response

    @app.get("/favicon.ico")
    def favicon() -> bottle.HTTPResponse:
        # Asked for by browsers before (or without) reading the page's <link rel="icon">.
        return see_other(services.static.url("favicon.svg"))

    @app.get("/robots.txt")
    def robots() -> str:
        bottle.response.content_type = "text/plain; charset=utf-8"
        bottle.response.set_header("Cache-Control", PLAIN_CACHE)
        return ROBOTS
