"""The demo Spotify's configuration: catalog, credentials, latency, limits and faults.

Everything comes from ``DEMO_SPOTIFY_*`` variables (``Settings.extra``); the limit and fault
fields may also be changed while the server runs, through ``POST /_demo/config``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from config.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings, SettingsError

log = logging.getLogger(__name__)

DEFAULT_SEED = 20240601
MAX_LOAD_USERS = 9999  # generated users' ids have four digits: load0001 to load9999
ENV_PREFIX = "DEMO_SPOTIFY_"

# Settings.extra holds every DEMO_SPOTIFY_* variable, including this one which Settings reads.
_NOT_OURS = {"DEMO_SPOTIFY_PORT"}

# Only these may change at runtime: the catalog and the credentials are fixed at start-up.
RUNTIME_FIELDS = frozenset(
    {
        "latency_ms",
        "rate_limit",
        "rate_window_s",
        "pages_rate_limit",
        "daily_quota",
        "fault_rate",
        "timeout_rate",
        "timeout_seconds",
        "truncate_rate",
        "no_listeners_rate",
        "bare_page_rate",
        "token_ttl_s",
        "registered_users",
    }
)
_RATES = ("fault_rate", "timeout_rate", "truncate_rate", "no_listeners_rate", "bare_page_rate")


@dataclass(frozen=True)
class DemoConfig:
    """How the demo Spotify behaves; 0 means "off" or "unlimited" for every limit."""

    seed: int = DEFAULT_SEED
    scale: float = 1.0
    load_users: int = 0
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    token_key: str = "overlap-demo-spotify-token-key"
    token_ttl_s: int = 3600
    latency_ms: int = 0
    rate_limit: int = 0
    rate_window_s: float = 30.0
    pages_rate_limit: int = 0
    daily_quota: int = 0
    fault_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 15.0
    truncate_rate: float = 0.0
    no_listeners_rate: float = 0.0
    # Artist pages served without their Open Graph head, as if Spotify changed the page.
    bare_page_rate: float = 0.0
    # A Development Mode app's user list in Spotify's dashboard: comma-separated user ids.
    # Empty: everyone may use the app (an app with extended quota). Anyone else gets through
    # the consent page, then a 403 from every Web API call, as on the real Spotify.
    registered_users: str = ""

    def __post_init__(self) -> None:
        for name in ("latency_ms", "rate_limit", "pages_rate_limit", "daily_quota"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be at least 0")
        for name in _RATES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"{name} must be between 0 and 1")
        if self.rate_window_s <= 0 or self.timeout_seconds < 0:
            raise SettingsError("rate_window_s must be positive and timeout_seconds at least 0")
        if not 0 < self.scale <= 1.0:
            raise SettingsError("scale must be above 0 and at most 1")
        if not 0 <= self.load_users <= MAX_LOAD_USERS:
            raise SettingsError(f"load_users must be between 0 and {MAX_LOAD_USERS}")

    @classmethod
    def from_settings(cls, settings: Settings) -> DemoConfig:
        """The configuration named by the ``DEMO_SPOTIFY_*`` variables of ``settings``."""
        # A stable key lets access tokens outlive a restart of the demo server.
        derived_key = hmac.new(
            settings.secret_key.encode(), b"demo-spotify-tokens", hashlib.sha256
        ).hexdigest()
        return cls.from_env(settings.extra, token_key=derived_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **defaults: Any) -> DemoConfig:
        """The configuration from ``DEMO_SPOTIFY_*`` variables, over ``defaults``."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = dict(defaults)
        for key, raw in env.items():
            if not key.startswith(ENV_PREFIX) or key in _NOT_OURS or not raw.strip():
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in known:
                log.warning("ignoring unknown setting %s", key)
                continue
            values[name] = _parse(key, raw.strip(), known[name].type)
        return cls(**values)

    def is_registered(self, user_id: str) -> bool:
        """Whether ``user_id`` is on the app's user list (everyone is, when it is empty)."""
        listed = {u.strip() for u in self.registered_users.split(",") if u.strip()}
        return not listed or user_id in listed

    def with_changes(self, changes: Mapping[str, Any]) -> DemoConfig:
        """A copy with runtime fields changed; raises ``SettingsError`` on a bad change."""
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise SettingsError(f"cannot change {', '.join(sorted(unknown))} at runtime")
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            kind = next(f.type for f in fields(self) if f.name == name)
            if kind == "str":
                if not isinstance(value, str):
                    raise SettingsError(f"{name} must be a string, not {value!r}")
                typed[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{name} must be a number, not {value!r}")
            if kind == "int" and value != int(value):
                raise SettingsError(f"{name} must be a whole number, not {value!r}")
            typed[name] = int(value) if kind == "int" else float(value)
        return replace(self, **typed)

    def public(self) -> dict[str, Any]:
        """The configuration as JSON-ready data, secrets left out."""
        data = asdict(self)
        del data["token_key"], data["client_secret"]
        return data


def _parse(key: str, raw: str, kind: object) -> Any:
    """One variable's value converted to the field's type (annotations are strings here)."""
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a number, not {raw!r}") from None
    return raw
