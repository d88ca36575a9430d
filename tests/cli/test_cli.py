"""The overlap command runs the same functions the actors run, and answers bad input with
one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.testing import enqueued
from cli.main import main
from models import Artist, ArtistListeners, JobRun, User
from models.db import utcnow


def test_sync_user_runs_the_sync_in_the_foreground(
    sign_in, db, cli_env, demo_spotify, broker, capsys
):
    user = sign_in("cleo")

    assert main(["sync-user", "cleo"]) == 0

    out = capsys.readouterr().out
    assert "synced cleo: 40 followed" in out
    job = JobRun.get(JobRun.subject == f"user:{user.id}")
    assert (job.status, job.requested_by) == ("succeeded", "cli")
    assert len(enqueued(broker, "artists")) > 0  # listener counts go to the workers


def test_a_foreground_sync_beats_the_same_heartbeat_as_a_worker(
    sign_in, db, cli_env, demo_spotify, broker, monkeypatch, capsys
):
    # Given beats every 10 ms, and a sync that takes a while (each page 30 ms late).
    monkeypatch.setattr("jobs.tracking.HEARTBEAT_INTERVAL", dt.timedelta(milliseconds=10))
    demo_spotify.set_faults(latency_ms=30)
    user = sign_in("cleo")
    started = utcnow()

    assert main(["sync-user", "cleo"]) == 0

    job = JobRun.get(JobRun.subject == f"user:{user.id}")
    # Then recovery could tell a live run from one whose terminal died.
    assert job.heartbeat_at is not None and job.heartbeat_at >= started


def test_sync_user_refuses_while_another_sync_of_that_user_runs(
    sign_in, db, cli_env, demo_spotify, capsys
):
    user = sign_in("cleo")
    JobRun.open(
        message_id="m",
        actor="update_user",
        args=[user.id],
        subject=f"user:{user.id}",
        queue="interactive",
        status="running",
    )

    assert main(["sync-user", "cleo"]) == 1
    assert "already running" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["", "nobody", "'; DROP TABLE user; --", "ü" * 300])
def test_sync_user_of_an_unknown_user_is_one_line(db, cli_env, bad, capsys):
    assert main(["sync-user", bad]) == 1
    err = capsys.readouterr().err
    assert err.startswith("overlap: no user") and err.count("\n") == 1
    assert User.select().count() == 0


def test_sync_artist_reads_the_listener_count(db, cli_env, demo_spotify, capsys):
    artist_id = sorted(demo_spotify.catalog.expected_artist_ids("cleo", "followed"))[0]

    assert main(["sync-artist", artist_id]) == 0

    row = ArtistListeners.get(ArtistListeners.artist == Artist.get(spotify_id=artist_id).id)
    assert row.monthly_listeners == demo_spotify.catalog.monthly_listeners(artist_id)
    assert "updated" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["short", "<script>", "x" * 23, "0000000000000000000000!"])
def test_sync_artist_with_a_malformed_id_is_one_line(db, cli_env, bad, capsys):
    assert main(["sync-artist", bad]) == 1
    assert "is not a Spotify artist id" in capsys.readouterr().err
    assert Artist.select().count() == 0


def test_refresh_listeners_dry_run_counts_and_sends_nothing(db, cli_env, broker, capsys):
    from models.artist import ArtistFields

    Artist.upsert_many([ArtistFields(f"{i:022d}", f"A{i}", "u", None, True) for i in range(7)])

    assert main(["refresh-listeners", "--dry-run"]) == 0
    assert "7 artists are outdated" in capsys.readouterr().out
    assert enqueued(broker, "bulk") == []

    assert main(["refresh-listeners"]) == 0
    assert len(enqueued(broker, "bulk")) == 7


def test_an_unreachable_database_is_one_line(monkeypatch, tmp_path, capsys):
    from models import database

    monkeypatch.setattr(database, "obj", database.obj)  # restored after the test
    monkeypatch.setenv("OVERLAP_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["db", "upgrade"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("overlap: the database did not answer")


def finished_run(status: str, age_days: int) -> int:
    """A job run of ``status`` that ended ``age_days`` ago."""
    return JobRun.create(
        message_id=f"{status}-{age_days}",
        actor="update_user",
        queue="interactive",
        status=status,
        finished_at=utcnow() - dt.timedelta(days=age_days),
    ).id


def test_jobs_clean_removes_the_runs_past_their_retention_and_says_how_many(db, cli_env, capsys):
    kept = {finished_run("succeeded", 3), finished_run("failed", 20), finished_run("running", 90)}
    for status, age in (("succeeded", 8), ("failed", 31), ("cancelled", 40)):
        finished_run(status, age)

    assert main(["jobs", "clean", "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "would remove 3 job runs "
        "(succeeded older than 7 days, failed and cancelled older than 30 days)\n"
    )
    assert JobRun.select().count() == 6

    assert main(["jobs", "clean"]) == 0
    assert "removed 3 job runs" in capsys.readouterr().out
    assert {job.id for job in JobRun.select()} == kept


def test_jobs_clean_with_days_removes_every_finished_run_older_than_that(db, cli_env, capsys):
    running = finished_run("running", 90)
    for status in ("succeeded", "failed", "cancelled"):
        finished_run(status, 3)

    assert main(["jobs", "clean", "--days", "2"]) == 0

    assert capsys.readouterr().out == (
        "removed 3 job runs (succeeded, failed and cancelled older than 2 days) in 1 batch\n"
    )
    assert [job.id for job in JobRun.select()] == [running]


def test_jobs_clean_on_a_host_120_s_ahead_cuts_off_on_redis_s_clock(
    db, cli_env, monkeypatch, capsys
):
    import redis

    from models.db import set_clock_offset

    # Given Redis's clock 120 s behind this host's (the host runs ahead), and two runs
    # that ended, on Redis's clock, a minute inside and a minute past the week kept...
    real_time = redis.Redis.time
    monkeypatch.setattr(redis.Redis, "time", lambda self: _shifted(real_time(self), -120))
    week = dt.timedelta(days=7)
    inside = JobRun.create(message_id="inside", actor="update_user", queue="interactive",
                           status="succeeded",
                           finished_at=utcnow() - week - dt.timedelta(seconds=60))  # fmt: skip
    JobRun.create(message_id="past", actor="update_user", queue="interactive",
                  status="succeeded",
                  finished_at=utcnow() - week - dt.timedelta(seconds=180))  # fmt: skip
    try:
        # When `jobs clean` runs on this host...
        assert main(["jobs", "clean"]) == 0
    finally:
        set_clock_offset(0.0)
    # ...then only the one past the week went (the host's clock would take both).
    assert "removed 1 job runs" in capsys.readouterr().out
    assert [job.id for job in JobRun.select()] == [inside.id]


def _shifted(answer: tuple[int, int], seconds: int) -> tuple[int, int]:
    """Redis's TIME answer moved by whole ``seconds``."""
    return answer[0] + seconds, answer[1]


@pytest.mark.parametrize("bad", ["0", "-3", "week", "1.5"])
def test_jobs_clean_with_bad_days_is_one_line(db, cli_env, bad, capsys):
    finished_run("succeeded", 30)

    assert main(["jobs", "clean", "--days", bad]) == 2

    err = capsys.readouterr().err
    assert err == f"overlap: --days must be a whole number of at least 1, not {bad!r}\n"
    assert JobRun.select().count() == 1


def test_a_bad_retention_setting_is_one_line(db, cli_env, monkeypatch, capsys):
    monkeypatch.setenv("JOB_RETENTION_FAILED_DAYS", "0")

    assert main(["jobs", "clean"]) == 2

    err = capsys.readouterr().err
    assert err == "overlap: bad setting: JOB_RETENTION_FAILED_DAYS must be at least 1, not 0\n"
