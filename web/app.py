"""The app factory: ``create_app(settings)`` builds a Bottle app; nothing is global."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import bottle
import redis
from peewee import InterfaceError, OperationalError

from config.redis_ref import RedisRef
from config.settings import Settings, shipped
from models import User, database, init_database, tokens
from models.job_run import JobRun
from spotify.gate import SpotifyGate
from spotify.sign_in import SignInCalls, Turns
from sync.context import SyncContext
from sync.users import sync_if_needed
from web import routes
from web.http import request_context
from web.http.body_limit import refuse_unwanted_bodies
from web.http.client_address import ClientAddress
from web.http.compression import CompressPlugin
from web.http.plugins import RequestPlugin
from web.http.request_id import begin_request, send_request_id
from web.http.security_headers import add_security_headers
from web.http.services import RequestSync, Services
from web.http.session import SessionStore
from web.http.static_files import StaticFiles
from web.state.comparison_cache import ComparisonCache
from web.state.guess_limit import GuessGuard
from web.state.redis_client import web_redis
from web.state.sign_in_limit import SignInLimit
from web.views.render import Renderer

logger = logging.getLogger(__name__)

# The longest a web thread waits for a slot in the gate's sign-in lane.
SIGN_IN_MAX_WAIT_S = 2.0


def create_app(settings: Settings) -> bottle.Bottle:
    """A Bottle app for ``settings`` with every route mounted."""
    app = bottle.Bottle()
    init_database(settings.database_url)
    tokens.configure(settings.token_keys)
    services = _services(settings)
    services.install(app)

    # First: every line of the request, a refused body's included, carries its id.
    app.add_hook("before_request", begin_request(services.client_address))
    app.add_hook("before_request", refuse_unwanted_bodies)

    @app.hook("before_request")
    def _connect() -> None:
        # With the database down, failing here would give Bottle's 500 page. The route's
        # first query connects again instead, and its error reaches the request plugin,
        # which answers the 503 page that says so.
        with contextlib.suppress(OperationalError, InterfaceError):
            database.connect(reuse_if_open=True)

    app.add_hook("after_request", add_security_headers)
    app.add_hook("after_request", send_request_id)

    @app.hook("after_request")
    def _close() -> None:
        if not database.is_closed():
            database.close()

    # Secure everywhere but the demo on plain http (its cookie would never come back).
    secure = not settings.demo or settings.base_url.startswith("https://")
    app.install(RequestPlugin(SessionStore(settings.secret_key, secure=secure)))
    # Inside the request plugin: it compresses what the route answered.
    app.install(CompressPlugin())
    routes.mount_all(app, services)
    _error_pages(app)
    return app


def _services(settings: Settings) -> Services:
    """What every route gets: the settings, Redis, the renderer and the shared limits."""
    # One client for the pages and the broker that sends syncs: short timeouts, and after a
    # failure it stops waiting on Redis for a moment (see web/state/redis_client.py).
    redis_client = web_redis(settings.redis_url) if settings.redis_url else None
    redis_ref = RedisRef.from_settings(settings, redis_client) if redis_client else None
    static = StaticFiles(shipped("static"))
    return Services(
        settings=settings,
        redis=redis_client,
        redis_ref=redis_ref,
        render=Renderer(settings, static),
        request_sync=_sync_requester(settings, redis_client),
        guess_limit=GuessGuard(redis_ref),
        client_address=ClientAddress(settings.forwarded_allow_ips),
        comparisons=ComparisonCache(redis_ref, settings.compare_computes_per_minute),
        sign_in_limit=SignInLimit(redis_ref, settings.sign_ins_per_minute),
        sign_in_calls=_sign_in_calls(settings, redis_ref),
        static=static,
    )


def _sign_in_calls(settings: Settings, ref: RedisRef | None) -> SignInCalls:
    """Sign-in's calls to Spotify: through the shared gate when there is Redis. A web
    thread waits at most a couple of seconds for its slot; a longer line is a busy page."""
    gate = SpotifyGate(ref, settings, max_wait=SIGN_IN_MAX_WAIT_S) if ref is not None else None
    return SignInCalls(settings, gate, Turns())


def _sync_requester(settings: Settings, client: redis.Redis | None) -> RequestSync:
    """How routes ask for a sync: ``sync_if_needed`` on the shared broker."""
    if settings.redis_url:
        from actors.broker import configure

        configure(settings, client)
    ctx = SyncContext(settings=settings)

    def request_sync(user: User, force: bool = False, requested_by: str = "user") -> JobRun | None:
        job = sync_if_needed(ctx, user, force=force, requested_by=requested_by)
        if job is not None and job.sent_at is None:
            # Redis refused it (the row waits to be sent): the page can say so at once.
            request_context.note_queue_refused()
        return job

    return request_sync


def _error_pages(app: bottle.Bottle) -> None:
    """Clear pages for errors the routes did not answer themselves; never a traceback."""

    def page(status: int, message: str) -> Callable[[bottle.HTTPError], str]:
        def handler(error: bottle.HTTPError) -> str:
            add_security_headers()
            send_request_id()
            if status == 500:
                logger.error("unhandled error on %s: %s", bottle.request.path, error.exception)
            if bottle.request.path.startswith("/api/"):
                return request_context.as_json({"error": message}, status=status)
            bottle.request.environ["overlap.user"] = None
            return request_context.page_error(status, message)

        return handler

    app.error(404)(page(404, "There is no page at this address."))
    app.error(405)(page(405, "This address does not accept that kind of request."))
    app.error(500)(page(500, "Something went wrong on our side. Please try again."))
