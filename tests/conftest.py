"""Fixtures every test shares: settings, the database and Redis.

With ``DATABASE_URL`` / ``REDIS_URL`` in the environment the suite runs against those
servers; without them it uses a SQLite file and the embedded Redis, as ``make run`` does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from models import database, init_database, migrations
from overlap.embedded_redis import EmbeddedRedis
from overlap.settings import Settings


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var/ directory of the test session's own."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def redis_url(var_dir: Path) -> Iterator[str]:
    """The configured Redis, or an embedded one for the session."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with EmbeddedRedis(var_dir / "redis", persist=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def base_env(var_dir: Path, redis_url: str) -> dict[str, str]:
    """The environment the test settings are built from (demo mode, test servers)."""
    return {
        "OVERLAP_VAR_DIR": str(var_dir),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'test.db'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key",
    }


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Settings:
    """Settings for the tests: demo mode against the test database and Redis."""
    return Settings.from_env(base_env, read_dotenv=False)


@pytest.fixture(scope="session")
def _schema(settings: Settings) -> Iterator[None]:
    init_database(settings.database_url)
    migrations.drop_all()
    migrations.upgrade()
    yield
    database.close()


@pytest.fixture
def db(_schema: None) -> Iterator[None]:
    """An empty database at the latest schema, emptied again after the test."""
    _empty_tables()
    database.connect(reuse_if_open=True)
    yield
    database.close()
    _empty_tables()


def _empty_tables() -> None:
    import models

    with database.connection_context():
        for table in reversed(models.ALL_TABLES):
            table.delete().execute()


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    """A client of the test Redis."""
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def namespace() -> str:
    """A Redis key namespace of the test's own, so tests never see each other's queues."""
    return f"overlap-test-{uuid.uuid4().hex[:8]}"
