"""The demo's configuration: read from DEMO_SPOTIFY_* settings, changed safely at runtime."""

from __future__ import annotations

import pytest

from config.settings import Settings, SettingsError
from spotify_demo.config import DemoConfig


def settings_with(**env: str) -> Settings:
    """Demo-mode settings with some extra environment variables."""
    return Settings.from_env({"SECRET_KEY": "k" * 32, **env}, read_dotenv=False)


def test_defaults_leave_every_limit_and_fault_off() -> None:
    config = DemoConfig.from_settings(settings_with())
    assert (config.rate_limit, config.daily_quota, config.fault_rate, config.latency_ms) == (
        0,
        0,
        0.0,
        0,
    )
    assert config.client_id == "overlap-demo-client"


def test_demo_spotify_variables_set_the_config() -> None:
    config = DemoConfig.from_settings(
        settings_with(
            DEMO_SPOTIFY_LATENCY_MS="20",
            DEMO_SPOTIFY_RATE_LIMIT="100",
            DEMO_SPOTIFY_RATE_WINDOW_S="30",
            DEMO_SPOTIFY_PAGES_RATE_LIMIT="10",
            DEMO_SPOTIFY_DAILY_QUOTA="5000",
            DEMO_SPOTIFY_FAULT_RATE="0.01",
            DEMO_SPOTIFY_TIMEOUT_RATE="0.005",
            DEMO_SPOTIFY_TIMEOUT_SECONDS="15",
            DEMO_SPOTIFY_TRUNCATE_RATE="0.001",
            DEMO_SPOTIFY_NO_LISTENERS_RATE="0.02",
            DEMO_SPOTIFY_SCALE="0.5",
            DEMO_SPOTIFY_LOAD_USERS="1000",
        )
    )
    assert config.latency_ms == 20 and config.rate_limit == 100 and config.daily_quota == 5000
    assert config.load_users == 1000
    assert config.fault_rate == 0.01 and config.scale == 0.5 and config.pages_rate_limit == 10


def test_the_token_key_follows_the_app_secret_so_tokens_outlive_restarts() -> None:
    first = DemoConfig.from_settings(settings_with())
    again = DemoConfig.from_settings(settings_with())
    other = DemoConfig.from_settings(settings_with(SECRET_KEY="other" * 8))
    assert first.token_key == again.token_key != other.token_key


@pytest.mark.parametrize(
    "env",
    [
        {"DEMO_SPOTIFY_RATE_LIMIT": "lots"},
        {"DEMO_SPOTIFY_FAULT_RATE": "1.5"},
        {"DEMO_SPOTIFY_LATENCY_MS": "-1"},
        {"DEMO_SPOTIFY_SCALE": "0"},
        {"DEMO_SPOTIFY_LOAD_USERS": "-1"},
        {"DEMO_SPOTIFY_LOAD_USERS": "10000"},
    ],
)
def test_a_bad_value_is_a_settings_error(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        DemoConfig.from_settings(settings_with(**env))


def test_only_limits_and_faults_change_at_runtime() -> None:
    config = DemoConfig()
    assert config.with_changes({"rate_limit": 5, "fault_rate": 0.5}).rate_limit == 5
    with pytest.raises(SettingsError, match="cannot change seed"):
        config.with_changes({"seed": 3})
    with pytest.raises(SettingsError):
        config.with_changes({"timeout_rate": True})
