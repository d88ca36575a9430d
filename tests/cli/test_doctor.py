"""``overlap doctor``: every check answers on a healthy setup (exit 0); a broken setting
and a stopped Redis are each one sentence saying what to do, and a non-zero exit."""

from __future__ import annotations

import pytest

from actors.scheduler_lease import SchedulerLease
from cli.embedded_redis import EmbeddedRedis
from cli.main import main
from config.redis_ref import RedisRef


@pytest.fixture
def scheduler(broker):
    """A scheduler's lease held, as a running scheduler holds it."""
    lease = SchedulerLease(RedisRef.of(broker), holder_id="test-host:1")
    assert lease.keep()
    yield lease
    lease.release()


def test_a_healthy_setup_passes_every_check(db, cli_env, worker, scheduler, capsys):
    code = main(["doctor"])

    out = capsys.readouterr().out
    assert code == 0, out
    for check in ("settings", "database", "schema", "redis", "scheduler", "workers", "spotify"):
        assert f"ok       {check}:" in out
    assert "test-host:1 holds the lease" in out
    assert out.rstrip().endswith("overlap doctor: everything answers")


def test_a_broken_setting_is_named_with_what_to_do(db, cli_env, monkeypatch, capsys):
    monkeypatch.setenv("SPOTIFY_DAILY_BUDGET", "lots")

    code = main(["doctor"])

    out = capsys.readouterr().out
    assert code == 1
    assert (
        "PROBLEM  settings: SPOTIFY_DAILY_BUDGET must be a whole number, not 'lots'. "
        "Fix it in the environment or in .env." in out
    )
    assert "Traceback" not in out


def test_a_stopped_redis_is_named_with_what_to_do(db, cli_env, monkeypatch, tmp_path, capsys):
    redis_server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    url = redis_server.url
    redis_server.stop()
    monkeypatch.setenv("REDIS_URL", url)

    code = main(["doctor"])

    out = capsys.readouterr().out
    assert code == 1
    problem = next(line for line in out.splitlines() if line.startswith("PROBLEM  redis:"))
    assert "Redis did not answer" in problem and problem.endswith("Start Redis, or fix REDIS_URL.")
    assert redis_server.password not in out  # the URL's password is never printed
    # What needs no Redis is still checked.
    assert "ok       database:" in out and "ok       spotify:" in out


def test_no_worker_and_no_scheduler_are_problems_that_say_which_line_to_start(db, cli_env, capsys):
    code = main(["doctor"])

    out = capsys.readouterr().out
    assert code == 1
    assert "PROBLEM  scheduler: no scheduler holds the lease" in out
    assert "PROBLEM  workers: no worker reported in the last minute" in out
    assert "overlap doctor: 2 problems found" in out
