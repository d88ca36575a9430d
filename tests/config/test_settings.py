"""Settings come from the environment once, with embedded defaults and clear errors."""

from __future__ import annotations

import sys

import pytest

from config.settings import DEFAULT_API_URL, Settings, SettingsError


def make(tmp_path, **env):
    return Settings.from_env({"OVERLAP_VAR_DIR": str(tmp_path), **env}, read_dotenv=False)


LONG_KEY = "k" * 32
TOKEN_KEY = "a" * 43 + "="  # 32 bytes in url-safe base64
# What outside demo mode needs besides the client id: both keys, set by hand.
REAL = {"SPOTIFY_CLIENT_ID": "abc", "SECRET_KEY": LONG_KEY, "TOKEN_KEY": TOKEN_KEY}


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
    s = make(tmp_path, **REAL, SPOTIFY_CLIENT_SECRET="xyz")
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
    assert make(tmp_path, SECRET_KEY=LONG_KEY).secret_key == LONG_KEY


@pytest.mark.parametrize("key", ["x", "k" * 31, "é" * 15])
def test_a_secret_key_under_32_bytes_is_refused_with_how_to_make_one(tmp_path, key):
    with pytest.raises(SettingsError, match="SECRET_KEY must be at least 32 bytes") as refused:
        make(tmp_path, SECRET_KEY=key)
    assert "secrets.token_urlsafe" in str(refused.value)


def test_outside_demo_mode_a_secret_key_must_be_set(tmp_path):
    env = {k: v for k, v in REAL.items() if k != "SECRET_KEY"}
    with pytest.raises(SettingsError, match="SECRET_KEY must be set") as refused:
        make(tmp_path, **env)
    assert "make one with" in str(refused.value)
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("kept", ["", "\n", "short"])
def test_an_empty_or_short_generated_secret_key_is_made_again(tmp_path, kept):
    (tmp_path / "secret_key").write_text(kept)

    key = make(tmp_path).secret_key

    assert len(key.encode()) >= 32
    assert (tmp_path / "secret_key").read_text().strip() == key


def test_a_generated_token_key_is_kept_across_processes_and_remade_when_bad(tmp_path):
    first = make(tmp_path).token_keys
    assert first == make(tmp_path).token_keys
    assert len(first) == 1 and len(first[0]) == 44

    (tmp_path / "token_key").write_text("not a key")
    remade = make(tmp_path).token_keys
    assert remade != first and len(remade[0]) == 44


def test_token_keys_are_a_comma_separated_list_newest_first(tmp_path):
    older = "b" * 43 + "="
    s = make(tmp_path, TOKEN_KEY=f" {TOKEN_KEY} , {older} ,")
    assert s.token_keys == (TOKEN_KEY, older)
    assert not (tmp_path / "token_key").exists()


@pytest.mark.parametrize("raw", ["x", "a" * 43, f"{TOKEN_KEY},short"])
def test_a_token_key_that_is_not_a_fernet_key_is_refused_without_showing_it(tmp_path, raw):
    with pytest.raises(SettingsError, match="is not a Fernet key") as refused:
        make(tmp_path, TOKEN_KEY=raw)
    assert "Fernet.generate_key()" in str(refused.value)
    assert raw not in str(refused.value)


def test_outside_demo_mode_a_token_key_must_be_set(tmp_path):
    env = {k: v for k, v in REAL.items() if k != "TOKEN_KEY"}
    with pytest.raises(SettingsError, match="TOKEN_KEY must be set") as refused:
        make(tmp_path, **env)
    assert "Fernet.generate_key()" in str(refused.value)
    assert not (tmp_path / "token_key").exists()


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
    s = make(tmp_path, **REAL, SPOTIFY_CLIENT_SECRET="cs")
    text = str(s.redacted())
    assert LONG_KEY not in text
    assert TOKEN_KEY not in text
    assert "'cs'" not in text


def test_redacted_settings_hide_the_passwords_in_urls(tmp_path):
    s = make(
        tmp_path,
        DATABASE_URL="postgresql://ana:p%40ss@db:5432/overlap",
        REDIS_URL="redis://:hunter2@127.0.0.1:6380/0",
    )
    shown = s.redacted()
    assert shown["database_url"] == "postgresql://ana:***@db:5432/overlap"
    assert shown["redis_url"] == "redis://:***@127.0.0.1:6380/0"
    assert make(tmp_path).redacted()["redis_url"] == "None"


def test_the_metrics_token_is_read_and_hidden(tmp_path):
    s = make(tmp_path, METRICS_TOKEN=" scrape-me ")
    assert s.metrics_token == "scrape-me"
    assert "scrape-me" not in str(s.redacted())
    assert make(tmp_path).metrics_token is None


def test_the_default_folder_is_the_checkout_s_var_or_an_installed_copy_s_own(tmp_path, monkeypatch):
    import config.settings as settings_module
    from config.settings import default_var_dir

    # A checkout: var/ beside pyproject.toml.
    assert default_var_dir({}) == settings_module.ROOT / "var"
    # An installed copy (no pyproject.toml beside its packages) in a virtual environment:
    monkeypatch.setattr(settings_module, "ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert default_var_dir({}) == tmp_path / "venv" / "var" / "overlap"
    # Installed outside one (a prefix such as /usr/local, which its user may not write):
    # the user's state folder.
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    home = {"HOME": str(tmp_path / "home")}
    assert default_var_dir(home) == tmp_path / "home" / ".local" / "state" / "overlap"
    state = {**home, "XDG_STATE_HOME": str(tmp_path / "state")}
    assert default_var_dir(state) == tmp_path / "state" / "overlap"
