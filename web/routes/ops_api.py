"""Operations endpoints: ``/metrics`` for Prometheus and ``/api/queue/stats`` for the
dashboard, both read from ``ops`` at request time.

``/metrics`` is for admins (signed in, their Spotify id in ``ADMIN_SPOTIFY_IDS``) and for
a scraper sending ``Authorization: Bearer <METRICS_TOKEN>`` when that setting is set.
``/api/queue/stats`` is for admins.
"""

from __future__ import annotations

import hmac

import bottle
import redis

from models import User
from ops.metrics import CONTENT_TYPE, render_metrics
from ops.queues import queue_stats
from ops.workers import live_workers
from spotify.gate import SpotifyGate
from web.http import request_context
from web.http.auth_guard import api_not_signed_in, login_required
from web.http.headers import header
from web.http.request_context import as_json
from web.http.services import Services


def _plain(status: int, message: str) -> str:
    bottle.response.status = status
    bottle.response.content_type = "text/plain; charset=utf-8"
    bottle.response.set_header("Cache-Control", "no-store")
    return message + "\n"


def _metrics_refusal() -> str | None:
    """None when the request may read ``/metrics``, else the answer that refuses it."""
    authorization = header(bottle.request, "Authorization")
    token = request_context.settings().metrics_token
    if authorization:
        scheme, _, given = authorization.partition(" ")
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 401).
        matches = (
            token is not None
            and token != ""
            and hmac.compare_digest(given.strip().encode("latin-1"), token.encode())
        )
        if scheme.lower() == "bearer" and matches:
            return None
        bottle.response.set_header("WWW-Authenticate", 'Bearer realm="metrics"')
        if not token:
            return _plain(401, "Bearer tokens are off: METRICS_TOKEN is not set on this server.")
        return _plain(401, "Wrong metrics token: send Authorization: Bearer <METRICS_TOKEN>.")
    user = request_context.current_user()
    if request_context.is_admin(user):
        return None
    if user is not None:
        return _plain(403, "Only admins may read /metrics (or send the metrics bearer token).")
    return _plain(
        401, "Sign in as an admin, or send Authorization: Bearer <METRICS_TOKEN>, to read this."
    )


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add ``/metrics`` and ``/api/queue/stats`` to ``app``."""

    @app.get("/metrics")
    def metrics() -> str | bytes:
        refused = _metrics_refusal()
        if refused is not None:
            return refused
        ref = services.redis_ref
        if ref is None:
            return _plain(503, "REDIS_URL is not set: there are no queues to report.")
        gate = SpotifyGate(ref, request_context.settings())
        try:
            body = render_metrics(ref, spotify_stats=gate.stats)
        except redis.RedisError as error:
            return _plain(503, f"Redis is unavailable: {type(error).__name__}.")
        bottle.response.content_type = CONTENT_TYPE
        bottle.response.set_header("Cache-Control", "no-store")
        return body

    @app.get("/api/queue/stats")
    @login_required(otherwise=api_not_signed_in)
    def api_queue_stats(me: User) -> str:
        if not request_context.is_admin(me):
            return as_json({"error": "only admins may see the queues"}, status=403)
        ref = services.redis_ref
        if ref is None:
            return as_json({"error": "REDIS_URL is not set"}, status=503)
        try:
            workers = live_workers(ref)
            queues = queue_stats(ref, workers=workers)
        except redis.RedisError as error:
            return as_json({"error": f"Redis is unavailable: {type(error).__name__}"}, 503)
        return as_json(
            {"queues": [q.as_dict() for q in queues], "workers": [w.as_dict() for w in workers]}
        )
