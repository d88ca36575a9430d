"""The app factory: ``create_app(settings)`` builds a Bottle app; nothing is global."""

from __future__ import annotations

import bottle
import redis

from models import database, init_database
from overlap.settings import Settings
from web import routes
from web.render import Renderer


def create_app(settings: Settings) -> bottle.Bottle:
    """A Bottle app for ``settings`` with every route mounted."""
    app = bottle.Bottle()
    app.config["overlap.settings"] = settings
    init_database(settings.database_url)
    app.config["overlap.redis"] = (
        redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        if settings.redis_url
        else None
    )
    app.config["overlap.render"] = Renderer(settings)

    @app.hook("before_request")
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.hook("after_request")
    def _close() -> None:
        if not database.is_closed():
            database.close()

    routes.mount_all(app)
    return app
