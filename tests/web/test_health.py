"""/healthz answers 200 when the database and Redis answer, 503 naming what is down."""

from __future__ import annotations

import webtest

from cli.embedded_redis import free_port
from web.app import create_app


def test_healthz_is_ok_when_the_database_and_redis_answer(db, settings):
    app = webtest.TestApp(create_app(settings))

    response = app.get("/healthz")

    assert response.status_int == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_names_redis_when_it_is_down(db, settings):
    down = settings.but(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = webtest.TestApp(create_app(down))

    response = app.get("/healthz", expect_errors=True)

    assert response.status_int == 503
    assert response.json["status"] == "down"
    assert response.json["problems"] == ["redis: ConnectionError"]


def test_the_landing_page_says_plainly_that_it_is_a_demo(db, settings):
    app = webtest.TestApp(create_app(settings))

    page = app.get("/")

    assert "Demo mode" in page.text
    assert "not your real Spotify account" in page.text


def test_the_landing_page_has_no_demo_banner_with_real_spotify(db, settings):
    real = settings.but(demo=False)
    page = webtest.TestApp(create_app(real)).get("/")
    assert "Demo mode" not in page.text
