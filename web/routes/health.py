"""``/healthz``: 200 when the database and Redis answer, 503 naming what is down."""

from __future__ import annotations

import json

import bottle
import redis
from peewee import PeeweeException

from models import database
from web.http.services import Services


def check_database() -> str | None:
    """None when the database answers, else why not."""
    try:
        database.execute_sql("SELECT 1").fetchone()
    except (PeeweeException, OSError) as exc:
        return f"database: {type(exc).__name__}"
    return None


def check_redis(client: redis.Redis | None) -> str | None:
    """None when Redis answers, else why not."""
    if client is None:
        return "redis: REDIS_URL is not set"
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"redis: {type(exc).__name__}"
    return None


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add ``/healthz`` to ``app``."""

    @app.get("/healthz")
    def healthz() -> str:
        problems = [p for p in (check_database(), check_redis(services.redis)) if p]
        bottle.response.content_type = "application/json"
        bottle.response.set_header("Cache-Control", "no-store")
        if problems:
            bottle.response.status = 503
            return json.dumps({"status": "down", "problems": problems})
        return json.dumps({"status": "ok", "database": "ok", "redis": "ok"})
