"""The demo Spotify as a WSGI app: Spotify's three hosts under one server, one prefix each.

``/v1`` is the Web API, ``/accounts`` the accounts service, ``/open`` the web pages and
``/_demo`` the controls. A plug-in wraps every route with what makes the demo realistic:
latency, rate limits, the daily quota and faults, all read from the config in force.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import Bottle, HTTPError, HTTPResponse, Route, request

from spotify_demo import accounts, api, control, pages
from spotify_demo.building import build_catalog
from spotify_demo.catalog import Catalog
from spotify_demo.config import DemoConfig
from spotify_demo.limits import Limits
from spotify_demo.responses import api_error, error_page
from spotify_demo.tokens import TokenSigner

LIMITS_KEY = "demo.limits"
_FAULT_MESSAGES = {500: "Server error", 502: "Bad gateway", 503: "Service unavailable"}
# Pictures first: Spotify serves them from a host of their own (its image CDN), outside
# the artist pages' rate limit and faults, so the demo counts and treats them apart.
_PREFIXES = (
    ("/open/image", "images"), ("/v1", "api"), ("/accounts", "accounts"), ("/open", "open"),
)  # fmt: skip


def host_kind(path: str) -> str:
    """Which Spotify host a path stands for: api, accounts, open, images or control."""
    for prefix, kind in _PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return kind
    return "control"


def _refusal(kind: str, status: int, message: str, headers: dict[str, str]) -> HTTPResponse:
    """An error in the host's own language: Spotify JSON for the API, HTML for pages."""
    if kind == "open":
        return error_page(status, message, headers)
    return api_error(status, message, headers)


class Behaviour:
    """Bottle plug-in giving every route the latency, limits and faults of the config."""

    name = "demo_behaviour"
    api = 2

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def apply(self, callback: Callable[..., Any], route: Route) -> Callable[..., Any]:
        """Wrap one route's callback."""
        kind = host_kind(route.rule)
        label = f"{route.method} {route.rule}"
        limits = self.limits

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            limits.count_request(kind, label, request.remote_addr or "")
            if kind == "control":
                return callback(*args, **kwargs)
            config = limits.config
            limits.sleep(config.latency_ms / 1000)
            if kind in ("api", "open"):
                refused = self._misbehave(kind, config)
                if refused is not None:
                    return refused
            response = callback(*args, **kwargs)
            if kind in ("api", "open") and limits.roll(config.truncate_rate):
                limits.note("truncated")
                body = response.body if isinstance(response, HTTPResponse) else b""
                # Half a body, still labelled as JSON (or HTML): the client must notice.
                response.body = body[: len(body) // 2]
            return response

        return wrapper

    def _misbehave(self, kind: str, config: DemoConfig) -> HTTPResponse | None:
        """A 429 or a fault to send instead of the answer, or None (maybe after a stall)."""
        limits = self.limits
        wait = limits.admit(kind)
        if wait is not None:
            limits.note("rate_limited")
            return _refusal(kind, 429, "API rate limit exceeded", {"Retry-After": str(wait)})
        if limits.roll(config.fault_rate):
            limits.note("server_errors")
            status = limits.fault_status()
            return _refusal(kind, status, _FAULT_MESSAGES[status], {})
        if limits.roll(config.timeout_rate):
            # Longer than a client's timeout: the client gives up, then the answer comes.
            limits.note("timeouts")
            limits.sleep(config.timeout_seconds)
        return None


def _error_handler(limits: Limits) -> Callable[[HTTPError], HTTPResponse]:
    """Bottle's own errors (unknown route, wrong method, crash) in the host's language."""

    def handle(error: HTTPError) -> HTTPResponse:
        status = error.status_code
        if status >= 500:
            limits.note("server_errors")
        kind = host_kind(request.path)
        message = {404: "Service not found", 405: "Method not allowed"}.get(status, "Server error")
        response = _refusal(kind, status, message, {})
        # Keep what Bottle set, such as the Allow header of a 405.
        for name, value in error.headerlist:
            if name.lower() not in ("content-type", "content-length"):
                response.set_header(name, value)
        return response

    return handle


def create_demo_app(config: DemoConfig, catalog: Catalog | None = None) -> Bottle:
    """A new demo Spotify app for ``config`` (the catalog is built from it if not given)."""
    catalog = catalog or build_catalog(config.seed, config.scale, config.load_users)
    limits = Limits(config)
    signer = TokenSigner(config.token_key)
    grants = accounts.Grants()
    app = Bottle()
    app.config[LIMITS_KEY] = limits
    app.install(Behaviour(limits))
    api.install(app, catalog, signer, grants, limits)
    accounts.install(app, catalog, limits, signer, grants)
    pages.install(app, catalog, limits)
    control.install(app, catalog, limits, grants)
    handler = _error_handler(limits)
    for status in (400, 404, 405, 500):
        app.error(status)(handler)
    return app


def limits_of(app: Bottle) -> Limits:
    """The runtime state of an app made by ``create_demo_app``."""
    return app.config[LIMITS_KEY]
