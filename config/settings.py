"""Every setting of the app, read once from the environment into one object.

Nothing else in the code reads ``os.environ``: processes build a ``Settings`` at start-up
(``Settings.from_env()``) and pass it down. A ``.env`` file in the working directory is
read first when present; real environment variables win over it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_API_URL = "https://api.spotify.com/v1"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"
DEFAULT_OPEN_URL = "https://open.spotify.com"

# The demo Spotify serves all three Spotify hosts from one server, each under its own prefix.
DEMO_CLIENT_ID = "overlap-demo-client"
DEMO_CLIENT_SECRET = "overlap-demo-secret"
# In demo mode, when ADMIN_SPOTIFY_IDS is not set, this demo user may open /admin.
DEMO_ADMIN_ID = "emma"


# The DATABASE_URL schemes models.db builds a database for (tests/models/test_db.py keeps
# the two lists in step).
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool")


class SettingsError(ValueError):
    """A setting has a value the app cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _namespace(env: Mapping[str, str]) -> str:
    raw = env.get("REDIS_NAMESPACE", "").strip() or "overlap"
    if not raw.replace("-", "").replace("_", "").isalnum() or len(raw) > 64:
        raise SettingsError(f"REDIS_NAMESPACE must be letters, digits, - and _, not {raw!r}")
    return raw


def _secret_key(env: Mapping[str, str], var_dir: Path) -> str:
    """The configured key, or a development key generated once and kept under var/."""
    configured = env.get("SECRET_KEY", "").strip()
    if configured:
        return configured
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Write then rename so that two processes starting together never read half a key.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(key)
    os.replace(tmp, path)
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    """The app's configuration; see the settings table in the README."""

    var_dir: Path
    database_url: str
    redis_url: str | None
    redis_namespace: str
    spotify_client_id: str
    spotify_client_secret: str
    spotify_redirect_uri: str
    spotify_api_url: str
    spotify_accounts_url: str
    spotify_open_url: str
    secret_key: str
    admin_spotify_ids: frozenset[str]
    metrics_token: str | None
    port: int
    demo: bool
    demo_spotify_port: int
    stale_after_days: int
    spotify_api_rate: float
    spotify_pages_rate: float
    spotify_timeout: float
    job_retention_succeeded_days: int
    job_retention_failed_days: int
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, read_dotenv: bool = True) -> Settings:
        """Build the settings from ``env`` (default: the process environment and ``.env``)."""
        if env is None:
            env = dict(os.environ)
            if read_dotenv:
                from dotenv import dotenv_values

                dotenv_file = Path.cwd() / ".env"
                if dotenv_file.exists():
                    from_file = {k: v for k, v in dotenv_values(dotenv_file).items() if v}
                    env = {**from_file, **env}
        var_dir = Path(env.get("OVERLAP_VAR_DIR") or ROOT / "var").resolve()
        client_id = env.get("SPOTIFY_CLIENT_ID", "").strip()
        demo = not client_id
        port = _int(env, "PORT", 8000, minimum=1)
        demo_port = _int(env, "DEMO_SPOTIFY_PORT", 8001, minimum=1)
        demo_base = f"http://127.0.0.1:{demo_port}"
        database_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'overlap.db'}"
        scheme, has_scheme, _ = database_url.partition("://")
        if not has_scheme or scheme not in DATABASE_SCHEMES:
            # Only the scheme in the message: the rest of the URL may hold a password.
            raise SettingsError(
                "DATABASE_URL must start with sqlite:///, postgresql:// or postgresql+pool://,"
                f" not '{database_url.partition(':')[0]}:...'"
            )
        admins = {s.strip() for s in env.get("ADMIN_SPOTIFY_IDS", "").split(",") if s.strip()}
        if demo and not admins:
            admins = {DEMO_ADMIN_ID}
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL", "").strip() or None,
            redis_namespace=_namespace(env),
            spotify_client_id=client_id or DEMO_CLIENT_ID,
            spotify_client_secret=env.get("SPOTIFY_CLIENT_SECRET", "").strip()
            or (DEMO_CLIENT_SECRET if demo else ""),
            spotify_redirect_uri=env.get("SPOTIFY_REDIRECT_URI", "").strip()
            or f"http://127.0.0.1:{port}/callback",
            spotify_api_url=(
                env.get("SPOTIFY_API_URL", "").strip()
                or (f"{demo_base}/v1" if demo else DEFAULT_API_URL)
            ).rstrip("/"),
            spotify_accounts_url=(
                env.get("SPOTIFY_ACCOUNTS_URL", "").strip()
                or (f"{demo_base}/accounts" if demo else DEFAULT_ACCOUNTS_URL)
            ).rstrip("/"),
            spotify_open_url=(
                env.get("SPOTIFY_OPEN_URL", "").strip()
                or (f"{demo_base}/open" if demo else DEFAULT_OPEN_URL)
            ).rstrip("/"),
            secret_key=_secret_key(env, var_dir),
            admin_spotify_ids=frozenset(admins),
            metrics_token=env.get("METRICS_TOKEN", "").strip() or None,
            port=port,
            demo=demo,
            demo_spotify_port=demo_port,
            stale_after_days=_int(env, "SYNC_STALE_AFTER_DAYS", 7, minimum=0),
            spotify_api_rate=_float(env, "SPOTIFY_API_RATE", 20.0, minimum=0.1),
            spotify_pages_rate=_float(env, "SPOTIFY_PAGES_RATE", 10.0, minimum=0.1),
            spotify_timeout=_float(env, "SPOTIFY_TIMEOUT", 10.0, minimum=0.1),
            job_retention_succeeded_days=_int(env, "JOB_RETENTION_SUCCEEDED_DAYS", 7, minimum=1),
            job_retention_failed_days=_int(env, "JOB_RETENTION_FAILED_DAYS", 30, minimum=1),
            extra={k: v for k, v in env.items() if k.startswith("DEMO_SPOTIFY_")},
        )

    def but(self, **changes: object) -> Settings:
        """A copy with some settings changed (for tests and the dev runner)."""
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite:")

    def redacted(self) -> dict[str, str]:
        """The settings as strings with secrets hidden, for logs and the CLI."""
        hidden = {"spotify_client_secret", "secret_key", "metrics_token"}
        out = {}
        for name in self.__dataclass_fields__:
            if name == "extra":
                continue
            value = getattr(self, name)
            out[name] = "***" if name in hidden and value else str(value)
        return out
