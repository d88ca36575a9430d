"""Settings come from the environment once, with embedded defaults and clear errors."""

from __future__ import annotations

import pytest

from config.settings import DEFAULT_API_URL, Settings, SettingsError


def make(tmp_path, **env):
    return Settings.from_env({"OVERLAP_VAR_DIR": str(tmp_path), **env}, read_dotenv=False)


def test_with_nothing_set_it_is_demo_mode_on_sqlite_and_embedded_redis(tmp_path):
    s = make(tmp_path)
    assert s.demo
    assert s.is_sqlite
    assert s.database_url == f"sqlite:///{tmp_path / 'overlap.db'}"
    assert s.redis_url is None
    assert s.spotify_api_url == "http://127.0.0.1:8001/v1"
    assert s.spotify_accounts_url == "http://127.0.0.1:8001/accounts"
    assert s.spotify_open_url == "http://127.0.0.1:8001/open"
    assert s.spotify_redirect_uri == "http://127.0.0.1:8000/callback"
    assert s.port == 8000
    assert (s.job_retention_succeeded_days, s.job_retention_failed_days) == (7, 30)


def test_with_a_client_id_it_talks_to_the_real_spotify(tmp_path):
    s = make(tmp_path, SPOTIFY_CLIENT_ID="abc", SPOTIFY_CLIENT_SECRET="xyz")
    assert not s.demo
    assert s.spotify_api_url == DEFAULT_API_URL
    assert s.spotify_accounts_url == "https://accounts.spotify.com"
    assert s.spotify_open_url == "https://open.spotify.com"


def test_a_generated_secret_key_is_kept_across_processes(tmp_path):
    first = make(tmp_path).secret_key
    second = make(tmp_path).secret_key
    assert first == second
    assert len(first) >= 40
    assert (tmp_path / "secret_key").read_text().strip() == first


def test_a_configured_secret_key_wins(tmp_path):
    assert make(tmp_path, SECRET_KEY="k").secret_key == "k"


def test_admins_are_a_comma_separated_list(tmp_path):
    s = make(tmp_path, ADMIN_SPOTIFY_IDS=" ana, ben ,,")
    assert s.admin_spotify_ids == frozenset({"ana", "ben"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT must be a whole number"),
        ("PORT", "0", "PORT must be at least 1"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must start with"),
        ("SPOTIFY_API_RATE", "fast", "SPOTIFY_API_RATE must be a number"),
        ("JOB_RETENTION_SUCCEEDED_DAYS", "a week", "JOB_RETENTION_SUCCEEDED_DAYS must be a whole"),
        ("JOB_RETENTION_FAILED_DAYS", "0", "JOB_RETENTION_FAILED_DAYS must be at least 1, not 0"),
    ],
)
def test_a_bad_setting_is_named_in_the_error(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message):
        make(tmp_path, **{name: value})


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////srv/overlap/overlap.db",
        "postgres://ana@db/overlap",
        "postgresql://ana:p%40ss@db:5432/overlap",
        "postgres+pool://ana@db/overlap",
        "postgresql+pool://ana:p%40ss@db:5432/overlap?sslmode=require",
    ],
)
def test_every_database_url_the_app_can_open_is_accepted_as_written(tmp_path, url):
    assert make(tmp_path, DATABASE_URL=url).database_url == url


@pytest.mark.parametrize(
    "url",
    [
        "mysql://ana:hunter2@db/overlap",
        "postgresql+psycopg2://ana:hunter2@db/overlap",
        "sqlite:overlap.db",
    ],
)
def test_a_database_url_the_app_cannot_open_is_refused_without_its_password(tmp_path, url):
    with pytest.raises(SettingsError, match="DATABASE_URL must start with") as refused:
        make(tmp_path, DATABASE_URL=url)

    assert "hunter2" not in str(refused.value)


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PORT=9100\nADMIN_SPOTIFY_IDS=fromfile\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OVERLAP_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("PORT", "9200")
    for name in ("SPOTIFY_CLIENT_ID", "DATABASE_URL", "ADMIN_SPOTIFY_IDS"):
        monkeypatch.delenv(name, raising=False)

    s = Settings.from_env()

    assert s.port == 9200
    assert s.admin_spotify_ids == frozenset({"fromfile"})


def test_redacted_settings_hide_the_secrets(tmp_path):
    s = make(tmp_path, SECRET_KEY="supersecret", SPOTIFY_CLIENT_ID="id", SPOTIFY_CLIENT_SECRET="cs")
    text = str(s.redacted())
    assert "supersecret" not in text
    assert "'cs'" not in text


def test_the_metrics_token_is_read_and_hidden(tmp_path):
    s = make(tmp_path, METRICS_TOKEN=" scrape-me ")
    assert s.metrics_token == "scrape-me"
    assert "scrape-me" not in str(s.redacted())
    assert make(tmp_path).metrics_token is None
