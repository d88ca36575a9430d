"""The WSGI entry point for the production server (``gunicorn web.wsgi:app``).

gunicorn loads this in each of its worker processes (the Procfile does not ``--preload``),
so each one compares its clock with Redis's in a thread of its own (ops/clock_watch.py):
its ``utcnow`` is then Redis's clock, whatever its host's. The first comparison runs in
that thread, so a Redis slow to answer never holds the process's start.
"""

from config.redis_ref import RedisRef
from config.settings import Settings
from ops.clock_watch import ClockWatch
from web.app import create_app
from web.state.redis_client import web_redis

settings = Settings.from_env()
app = create_app(settings)
if settings.redis_url:
    _ref = RedisRef.from_settings(settings, web_redis(settings.redis_url))
    ClockWatch(_ref, "web", "its stamps are corrected to Redis's").start(wait=False)
