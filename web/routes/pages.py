"""The pages people see."""

from __future__ import annotations

import bottle

from overlap.settings import ROOT


def mount(app: bottle.Bottle) -> None:
    """Add the page routes to ``app``."""
    render = app.config["overlap.render"]

    @app.get("/")
    def landing() -> str:
        return render("landing.html")

    @app.get("/static/<path:path>")
    def static(path: str) -> bottle.HTTPResponse:
        return bottle.static_file(path, root=str(ROOT / "static"))
