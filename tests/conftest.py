"""Fixtures every test shares: settings, the database and Redis.

With ``DATABASE_URL`` / ``REDIS_URL`` in the environment the suite runs against those
servers; without them it uses a SQLite file and the embedded Redis, as ``make run`` does.

Under pytest-xdist (``make test``) each worker process runs a session of its own, so each
has its own temporary directory (its SQLite file and embedded Redis), its own demo Spotify,
and on a configured PostgreSQL a database of its own. On a configured Redis the workers
share the server: every test keeps to a key namespace of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from cli.embedded_redis import EmbeddedRedis
from config.settings import Settings
from models import database, init_database, migrations, tokens
from spotify_demo.config import DemoConfig
from spotify_demo.harness import DemoSpotify, running_demo


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
def database_url(var_dir: Path) -> Iterator[str]:
    """The configured database, or a SQLite file of the session's own.

    An xdist worker gets a database of its own on the configured server (``test_gw0`` beside
    ``test``), created here and dropped at the end: sharing one, each worker's ``db``
    fixture would empty the tables under the others' tests.
    """
    configured = os.environ.get("DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not configured:
        yield f"sqlite:///{var_dir / 'test.db'}"
    elif not worker:
        yield configured
    else:
        with _database_of_its_own(configured, worker) as url:
            yield url


@contextlib.contextmanager
def _database_of_its_own(server_url: str, suffix: str) -> Iterator[str]:
    """A new database ``<name>_<suffix>`` on the PostgreSQL of ``server_url``; its URL."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(server_url)
    name = f"{parts.path.lstrip('/')}_{suffix}"
    # FORCE (PostgreSQL 13+) ends connections a killed run or a test's process left open.
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))

    def run(*statements: sql.Composable) -> None:
        connection = psycopg2.connect(server_url)
        connection.autocommit = True  # CREATE and DROP DATABASE refuse a transaction
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    run(drop, create)  # dropped first in case a killed run left it behind
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        run(drop)


@pytest.fixture(scope="session")
def base_env(var_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment the test settings are built from (demo mode, test servers)."""
    return {
        "OVERLAP_VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-of-at-least-32-bytes",
        # Fixed, so that every process a test starts opens the tokens the test sealed, even
        # one given a var/ of its own (base64 of "overlap-tests-token-key-32-bytes").
        "TOKEN_KEY": "b3ZlcmxhcC10ZXN0cy10b2tlbi1rZXktMzItYnl0ZXM=",
    }


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Settings:
    """Settings for the tests: demo mode against the test database and Redis."""
    return Settings.from_env(base_env, read_dotenv=False)


@pytest.fixture(scope="session")
def _schema(settings: Settings) -> Iterator[None]:
    init_database(settings.database_url)
    tokens.configure(settings.token_keys)
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


@pytest.fixture(scope="session")
def demo_spotify() -> Iterator[DemoSpotify]:
    """The demo Spotify with its full-size catalog on a free loopback port, for the session.

    ``.api_url``, ``.catalog``, ``.token_for(user_id)``, ``.set_faults(**kw)``, ``.stats()``
    and more: see ``spotify_demo.harness.DemoSpotify``. It is reset after every test that
    uses it, so a test may change limits and faults freely.
    """
    with running_demo(DemoConfig()) as demo:
        yield demo


@pytest.fixture(autouse=True)
def _reset_demo_spotify_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "demo_spotify" in request.fixturenames:
        request.getfixturevalue("demo_spotify").reset()


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that runs ``overlap`` in-process sets up the CLI's logging (config/logs.py) on
    the root logger: put pytest's own back afterwards, and an empty log context."""
    from config import logs

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs.begin()
    logs._configured_role.clear()


@pytest.fixture(scope="session")
def app_settings(base_env: dict[str, str], demo_spotify: DemoSpotify) -> Settings:
    """The test settings pointing at the session's demo Spotify."""
    env = {**base_env, "DEMO_SPOTIFY_PORT": str(demo_spotify.port)}
    return Settings.from_env(env, read_dotenv=False)


@pytest.fixture
def broker(app_settings: Settings, namespace: str) -> Iterator[object]:
    """The app's Redis broker under a namespace of the test's own, with every actor on it."""
    from actors import runtime
    from actors.broker import configure

    settings = app_settings.but(redis_namespace=namespace)
    broker = configure(settings)
    runtime.configure(settings)
    from actors import artists, periodic, pictures, users  # noqa: F401  (declares the actors)

    yield broker
    runtime.stopping.clear()
    broker.flush_all()
    for key in broker.client.scan_iter(f"{namespace}*"):
        broker.client.delete(key)
    broker.close()


@pytest.fixture
def worker(broker, db) -> Iterator[object]:
    """A real Dramatiq worker in the test process, on every queue."""
    import dramatiq

    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def sign_in(demo_spotify: DemoSpotify, db: None):
    """Sign a demo user in as the web app would: their tokens stored on a ``User`` row."""
    from models import User

    def sign_in(spotify_id: str) -> User:
        token = {
            "access_token": demo_spotify.token_for(spotify_id),
            "refresh_token": demo_spotify.refresh_token_for(spotify_id),
            "expires_at": 4_000_000_000,
            "scope": "user-follow-read user-library-read",
            "token_type": "Bearer",
        }
        return User.sign_in(spotify_id, spotify_id.title(), token)

    return sign_in


@pytest.fixture
def web(app_settings: Settings, broker, db):
    """The web app (from its factory) driven by WebTest, on the test's broker namespace."""
    import webtest

    from web.app import create_app

    app = create_app(app_settings.but(redis_namespace=broker.namespace))
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})


@pytest.fixture
def signed_in_web(web, demo_spotify):
    """Sign a demo user in through the real OAuth flow; returns a function of the user id."""
    from urllib.parse import parse_qs, urlsplit

    def sign_in_as(spotify_id: str, next_path: str | None = None):
        login = web.get("/login", params={"next": next_path} if next_path else {})
        query = parse_qs(urlsplit(login.headers["Location"]).query)
        code = demo_spotify.code_for(spotify_id, query["redirect_uri"][0], state=query["state"][0])
        return web.get("/callback", params={"code": code, "state": query["state"][0]})

    return sign_in_as


@pytest.fixture
def cli_env(monkeypatch, base_env, broker, demo_spotify):
    """The environment the ``overlap`` command reads, on the test's database and Redis."""
    for name, value in {**base_env, "DEMO_SPOTIFY_PORT": str(demo_spotify.port)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)
    monkeypatch.setenv("REDIS_NAMESPACE", broker.namespace)
    monkeypatch.chdir(base_env["OVERLAP_VAR_DIR"])
    from models import database

    monkeypatch.setattr(database, "obj", database.obj)  # the CLI connects anew
