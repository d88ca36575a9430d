"""The control routes of the demo Spotify (``/_demo``): change faults, read counters, reset.

These exist only in the demo: tests and the developer use them to make Spotify slow,
stingy or broken on purpose, then to put it right again.
"""

from __future__ import annotations

import json

from bottle import Bottle, HTTPResponse, request

from config.settings import SettingsError
from spotify_demo.accounts import Grants
from spotify_demo.catalog import Catalog
from spotify_demo.limits import Limits
from spotify_demo.responses import api_error, html_page, json_response
from spotify_demo.tokens import APP_USER

_INDEX = """<h1>Demo Spotify</h1>
<p>This is the demo Spotify: a stand-in for Spotify's three hosts, with made-up data.</p>
<ul>
<li>Web API: <code>/v1</code></li>
<li>Accounts: <code>/accounts</code></li>
<li>Artist pages: <code>/open/artist/{{id}}</code></li>
<li>Control: <code>POST /_demo/config</code>, <code>POST /_demo/reset</code>,
<code>GET /_demo/stats</code>, <code>POST /_demo/revoke</code>,
<code>POST /_demo/expire</code></li>
</ul>
<p>{users} demo users, {artists:,} artists.</p>
"""


class Control:
    """Route handlers of the control endpoints."""

    def __init__(self, catalog: Catalog, limits: Limits, grants: Grants) -> None:
        self.catalog = catalog
        self.limits = limits
        self.grants = grants

    def index(self) -> HTTPResponse:
        """GET / and /_demo/: what this server is."""
        body = _INDEX.format(users=len(self.catalog.users), artists=len(self.catalog.artists))
        return html_page("Demo Spotify", body)

    def show_config(self) -> HTTPResponse:
        """GET /_demo/config: the config in force, secrets left out."""
        return json_response({"config": self.limits.config.public()})

    def change_config(self) -> HTTPResponse:
        """POST /_demo/config with a JSON object of runtime fields to change."""
        changes = _json_body()
        if not isinstance(changes, dict):
            return api_error(400, "Expected a JSON object of config fields")
        try:
            config = self.limits.update(changes)
        except SettingsError as error:
            return api_error(400, str(error))
        return json_response({"config": config.public()})

    def reset(self) -> HTTPResponse:
        """POST /_demo/reset: start-up config, empty counters, no revocations."""
        self.limits.reset()
        self.grants.clear_revocations()
        return json_response({"config": self.limits.config.public()})

    def stats(self) -> HTTPResponse:
        """GET /_demo/stats: counters since start-up or the last reset."""
        return json_response(self.limits.stats())

    def revoke(self) -> HTTPResponse:
        """POST /_demo/revoke ``{"user_id": ...}``: revoke that user's refresh tokens."""
        body = _json_body()
        user_id = body.get("user_id") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or self.catalog.user(user_id) is None:
            return api_error(400, 'Expected {"user_id": <a demo user id>}')
        self.grants.revoke(user_id)
        return json_response({"revoked": user_id})

    def expire(self) -> HTTPResponse:
        """POST /_demo/expire ``{"user_id": ...}`` (``""`` for the app's own tokens): end the
        access tokens issued so far, before their announced expiry."""
        body = _json_body()
        user_id = body.get("user_id") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or (
            user_id != APP_USER and self.catalog.user(user_id) is None
        ):
            return api_error(400, 'Expected {"user_id": <a demo user id, or "" for the app>}')
        self.grants.expire(user_id)
        return json_response({"expired": user_id})


def _json_body() -> object:
    """The request's JSON body, or None when it is missing or not JSON."""
    try:
        return json.loads(request.body.read() or b"null")
    except ValueError:
        return None


def install(app: Bottle, catalog: Catalog, limits: Limits, grants: Grants) -> None:
    """Add the ``/_demo`` routes and the index to ``app``."""
    control = Control(catalog, limits, grants)
    app.get("/", callback=control.index)
    app.get("/_demo/", callback=control.index)
    app.get("/_demo/config", callback=control.show_config)
    app.post("/_demo/config", callback=control.change_config)
    app.post("/_demo/reset", callback=control.reset)
    app.get("/_demo/stats", callback=control.stats)
    app.post("/_demo/revoke", callback=control.revoke)
    app.post("/_demo/expire", callback=control.expire)
