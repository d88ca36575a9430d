"""What the benchmarks that run the app's workers do first: settings under a Redis namespace
of their own, and a database emptied to the latest schema.

The scripts run as ``.venv/bin/python bench/<name>.py``, so this folder is on the path.
"""

from __future__ import annotations

import uuid

from config.settings import Settings
from models import User, init_database, migrations, tokens
from spotify_demo.harness import DemoSpotify

# Long enough for the settings' 32-byte minimum; a benchmark signs nothing that matters.
SECRET_KEY = "bench-key-0123456789abcdef012345"


def bench_env(prefix: str, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a demo-mode run on these servers, under a namespace
    ``<prefix>-<random>`` (the bench's own process and the workers it starts read it)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_NAMESPACE": f"{prefix}-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": SECRET_KEY,
        **extra,
    }


def bench_settings(env: dict[str, str]) -> Settings:
    """The settings of ``env`` alone (no .env file, no process environment)."""
    return Settings.from_env(env, read_dotenv=False)


def fresh_schema(settings: Settings) -> None:
    """Connect, take the token keys, and drop and re-create every table of the app."""
    init_database(settings.database_url)
    tokens.configure(settings.token_keys)
    migrations.drop_all()
    migrations.upgrade()


def sign_in_demo_user(demo: DemoSpotify, spotify_id: str) -> User:
    """The demo's ``spotify_id`` as a signed-in user: tokens stored as the web app does."""
    token = {
        "access_token": demo.token_for(spotify_id),
        "refresh_token": demo.refresh_token_for(spotify_id),
        "expires_at": 4_000_000_000,
        "scope": "user-follow-read user-library-read",
        "token_type": "Bearer",
    }
    return User.sign_in(spotify_id, spotify_id.title(), token)
