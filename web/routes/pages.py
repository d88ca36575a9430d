"""Static files (the vendored htmx, the stylesheet)."""

from __future__ import annotations

import bottle

from config.settings import ROOT
from web.http.services import Services


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the static route to ``app``."""

    @app.get("/static/<path:path>")
    def static(path: str) -> bottle.HTTPResponse:
        response = bottle.static_file(path, root=str(ROOT / "static"))
        response.set_header("Cache-Control", "public, max-age=3600")
        return response
