"""Every setting of the app, read once from the environment into one object.

Nothing else in the code reads ``os.environ``: processes build a ``Settings`` at start-up
(``Settings.from_env()``) and pass it down. A ``.env`` file in the working directory is
read first when present; real environment variables win over it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from config.private_files import tighten, write_private

ROOT = Path(__file__).resolve().parent.parent


def default_var_dir(env: Mapping[str, str]) -> Path:
    """Where the app keeps its files when ``OVERLAP_VAR_DIR`` is unset: the checkout's
    ``var/``; in an installed copy (its packages in site-packages, with no pyproject.toml
    beside them), never inside site-packages: ``var/overlap`` under its virtual
    environment, where Flask puts an installed app's instance folder, or, installed
    outside one (whose prefix, ``/usr/local``, its user may not write), the user's state
    folder (``$XDG_STATE_HOME/overlap``, by default ``~/.local/state/overlap``)."""
    if (ROOT / "pyproject.toml").is_file():
        return ROOT / "var"
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "var" / "overlap"
    state = env.get("XDG_STATE_HOME") or Path(env.get("HOME") or Path.home()) / ".local" / "state"
    return Path(state) / "overlap"


def shipped(name: str) -> Path:
    """``templates`` or ``static``, the files the web app serves: beside the packages in a
    checkout, inside ``web/`` in an installed copy (pyproject.toml's ``package-dir`` puts
    them there, as ``web.templates`` and ``web.static``)."""
    installed = ROOT / "web" / name
    return installed if installed.is_dir() else ROOT / name


DEFAULT_API_URL = "https://api.spotify.com/v1"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"
DEFAULT_OPEN_URL = "https://open.spotify.com"

# The demo Spotify serves all three Spotify hosts from one server, each under its own prefix.
SPOTIFY_HOSTS = {
    # variable: (Spotify's own address, the demo's prefix)
    "SPOTIFY_API_URL": (DEFAULT_API_URL, "/v1"),
    "SPOTIFY_ACCOUNTS_URL": (DEFAULT_ACCOUNTS_URL, "/accounts"),
    "SPOTIFY_OPEN_URL": (DEFAULT_OPEN_URL, "/open"),
}
# The demo Spotify's own app credentials.
DEMO_CLIENT_ID = "overlap-demo-client"
DEMO_CLIENT_SECRET = "overlap-demo-secret"
# In demo mode, when ADMIN_SPOTIFY_IDS is not set, this demo user may open /admin.
DEMO_ADMIN_ID = "emma"


# The DATABASE_URL schemes models.db builds a database for (tests/models/test_db.py keeps
# the two lists in step).
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool")


# An int or a float setting, as read by ``_number``.
_N = TypeVar("_N", int, float)


class SettingsError(ValueError):
    """A setting has a value the app cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return _number(env, name, default, minimum, int, "a whole number")


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    return _number(env, name, default, minimum, float, "a number")


def _number(
    env: Mapping[str, str],
    name: str,
    default: _N,
    minimum: _N,
    parse: Callable[[str], _N],
    what: str,
) -> _N:
    """The setting ``name`` read with ``parse``, at least ``minimum``; ``default`` when
    unset or blank. A value that does not parse or is too small names the setting."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {what}, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _namespace(env: Mapping[str, str]) -> str:
    raw = env.get("REDIS_NAMESPACE", "").strip() or "overlap"
    if not raw.replace("-", "").replace("_", "").isalnum() or len(raw) > 64:
        raise SettingsError(f"REDIS_NAMESPACE must be letters, digits, - and _, not {raw!r}")
    return raw


# A session key shorter than this is refused: the cookie's HMAC is only as strong as it.
MIN_SECRET_KEY_BYTES = 32
MAKE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
MAKE_TOKEN_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def _generated(
    var_dir: Path, name: str, make: Callable[[], str], usable: Callable[[str], bool]
) -> str:
    """The key kept in ``var/<name>``, made (again) when the file is missing or unusable.

    An empty or short file (a full disk, a hand edit) is replaced, never used: an empty
    session key would let anyone sign a session cookie.
    """
    path = var_dir / name
    if path.exists():
        tighten(path)
        kept = path.read_text().strip()
        if usable(kept):
            return kept
        write_private(path, make())
    else:
        # Processes starting together all keep the first key written: two token keys
        # would leave tokens sealed by one process unreadable by the others.
        write_private(path, make(), keep_existing=True)
    return path.read_text().strip()


def _long_enough(key: str) -> bool:
    return len(key.encode()) >= MIN_SECRET_KEY_BYTES


def _secret_key(env: Mapping[str, str], var_dir: Path, demo: bool) -> str:
    """The configured key, or in demo mode a key generated once and kept under var/."""
    configured = env.get("SECRET_KEY", "").strip()
    if configured:
        if not _long_enough(configured):
            raise SettingsError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes, not"
                f" {len(configured.encode())}; make one with: {MAKE_SECRET_KEY}"
            )
        return configured
    if not demo:
        # Every web process must share the key; a generated one would differ per machine.
        raise SettingsError(
            "SECRET_KEY must be set when SPOTIFY_CLIENT_ID is (outside demo mode);"
            f" make one with: {MAKE_SECRET_KEY}"
        )
    return _generated(var_dir, "secret_key", lambda: secrets.token_urlsafe(48), _long_enough)


def _is_fernet_key(key: str) -> bool:
    # A Fernet key is 32 bytes in url-safe base64 (cryptography checks the same way).
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


def _new_fernet_key() -> str:
    # What Fernet.generate_key() returns, without importing cryptography into settings.
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _token_keys(env: Mapping[str, str], var_dir: Path, demo: bool) -> tuple[str, ...]:
    """The keys that seal Spotify tokens at rest, newest first (see models/tokens.py)."""
    keys = tuple(k.strip() for k in env.get("TOKEN_KEY", "").split(",") if k.strip())
    for number, key in enumerate(keys, start=1):
        if not _is_fernet_key(key):
            # The position only: the value is a secret.
            raise SettingsError(
                f"TOKEN_KEY's key number {number} is not a Fernet key (32 bytes in url-safe"
                f" base64); make one with: {MAKE_TOKEN_KEY}"
            )
    if keys:
        return keys
    if not demo:
        # A key generated on one machine would leave every other process unable to read
        # the tokens, and losing it loses every token: outside demo mode it is set by hand.
        raise SettingsError(
            "TOKEN_KEY must be set when SPOTIFY_CLIENT_ID is (outside demo mode);"
            f" make one with: {MAKE_TOKEN_KEY}"
        )
    return (_generated(var_dir, "token_key", _new_fernet_key, _is_fernet_key),)


def _base_url(env: Mapping[str, str], port: int) -> str:
    """Where people reach the app, for every absolute link it writes: ``BASE_URL``, else
    the origin of the Spotify redirect URI (registered at Spotify, so it is the app's)."""
    raw = env.get("BASE_URL", "").strip() or env.get("SPOTIFY_REDIRECT_URI", "").strip()
    name = "BASE_URL" if env.get("BASE_URL", "").strip() else "SPOTIFY_REDIRECT_URI"
    if not raw:
        return f"http://127.0.0.1:{port}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or not raw.isprintable():
        raise SettingsError(f"{name} must be an http:// or https:// address, not {raw!r}")
    if name == "SPOTIFY_REDIRECT_URI":
        return f"{parts.scheme}://{parts.netloc}"
    return raw.rstrip("/")


def _forwarded_allow_ips(env: Mapping[str, str]) -> tuple[str, ...]:
    """The proxies whose X-Forwarded-For is believed (gunicorn's setting and default)."""
    raw = env.get("FORWARDED_ALLOW_IPS", "").strip() or "127.0.0.1,::1"
    entries = tuple(e.strip() for e in raw.split(",") if e.strip())
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(
                f"FORWARDED_ALLOW_IPS must list addresses or networks (or *), not {entry!r}"
            ) from None
    return entries


def _process_env(read_dotenv: bool) -> dict[str, str]:
    """The process environment, over the ``.env`` file of the working directory if asked
    and present (its empty values are left out)."""
    env = dict(os.environ)
    if read_dotenv:
        from dotenv import dotenv_values

        dotenv_file = Path.cwd() / ".env"
        if dotenv_file.exists():
            from_file = {k: v for k, v in dotenv_values(dotenv_file).items() if v}
            env = {**from_file, **env}
    return env


def _database_url(env: Mapping[str, str], var_dir: Path) -> str:
    """DATABASE_URL, by default the SQLite file under ``var_dir``; one of DATABASE_SCHEMES."""
    database_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'overlap.db'}"
    scheme, has_scheme, _ = database_url.partition("://")
    if not has_scheme or scheme not in DATABASE_SCHEMES:
        # Only the scheme in the message: the rest of the URL may hold a password.
        raise SettingsError(
            "DATABASE_URL must start with sqlite:///, postgresql:// or postgresql+pool://,"
            f" not '{database_url.partition(':')[0]}:...'"
        )
    return database_url


def _spotify_url(env: Mapping[str, str], name: str, demo_base: str | None) -> str:
    """The address of one of Spotify's hosts, without a trailing slash: the variable
    ``name``, else the demo Spotify's (at ``demo_base``, in demo mode) or Spotify's own."""
    default, demo_prefix = SPOTIFY_HOSTS[name]
    return (
        env.get(name, "").strip() or (demo_base + demo_prefix if demo_base else default)
    ).rstrip("/")


def _admin_spotify_ids(env: Mapping[str, str], demo: bool) -> frozenset[str]:
    """ADMIN_SPOTIFY_IDS; in demo mode, when it is empty, the demo's admin."""
    admins = {s.strip() for s in env.get("ADMIN_SPOTIFY_IDS", "").split(",") if s.strip()}
    if demo and not admins:
        admins = {DEMO_ADMIN_ID}
    return frozenset(admins)


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
    token_keys: tuple[str, ...]
    admin_spotify_ids: frozenset[str]
    metrics_token: str | None
    port: int
    demo: bool
    demo_spotify_port: int
    stale_after_days: int
    sync_give_up_after_seconds: int
    spotify_api_rate: float
    spotify_pages_rate: float
    spotify_sign_in_rate: float
    spotify_daily_budget: int
    spotify_app_mode: str
    spotify_timeout: float
    job_retention_succeeded_days: int
    job_retention_failed_days: int
    base_url: str
    forwarded_allow_ips: tuple[str, ...]
    refresh_cooldown_seconds: int
    compare_computes_per_minute: int
    sign_ins_per_minute: int
    group_max_members: int
    log_format: str = "text"
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, read_dotenv: bool = True) -> Settings:
        """Build the settings from ``env`` (default: the process environment and ``.env``)."""
        if env is None:
            env = _process_env(read_dotenv)
        var_dir = Path(env.get("OVERLAP_VAR_DIR") or default_var_dir(env)).resolve()
        client_id = env.get("SPOTIFY_CLIENT_ID", "").strip()
        demo = not client_id
        port = _int(env, "PORT", 8000, minimum=1)
        demo_port = _int(env, "DEMO_SPOTIFY_PORT", 8001, minimum=1)
        demo_base = f"http://127.0.0.1:{demo_port}" if demo else None
        return cls(
            var_dir=var_dir,
            database_url=_database_url(env, var_dir),
            redis_url=env.get("REDIS_URL", "").strip() or None,
            redis_namespace=_namespace(env),
            spotify_client_id=client_id or DEMO_CLIENT_ID,
            spotify_client_secret=env.get("SPOTIFY_CLIENT_SECRET", "").strip()
            or (DEMO_CLIENT_SECRET if demo else ""),
            spotify_redirect_uri=env.get("SPOTIFY_REDIRECT_URI", "").strip()
            or f"http://127.0.0.1:{port}/callback",
            spotify_api_url=_spotify_url(env, "SPOTIFY_API_URL", demo_base),
            spotify_accounts_url=_spotify_url(env, "SPOTIFY_ACCOUNTS_URL", demo_base),
            spotify_open_url=_spotify_url(env, "SPOTIFY_OPEN_URL", demo_base),
            secret_key=_secret_key(env, var_dir, demo),
            token_keys=_token_keys(env, var_dir, demo),
            admin_spotify_ids=_admin_spotify_ids(env, demo),
            metrics_token=env.get("METRICS_TOKEN", "").strip() or None,
            port=port,
            demo=demo,
            demo_spotify_port=demo_port,
            stale_after_days=_int(env, "SYNC_STALE_AFTER_DAYS", 7, minimum=0),
            sync_give_up_after_seconds=_int(env, "SYNC_GIVE_UP_AFTER_SECONDS", 300, minimum=1),
            spotify_api_rate=_float(env, "SPOTIFY_API_RATE", 20.0, minimum=0.1),
            spotify_pages_rate=_float(env, "SPOTIFY_PAGES_RATE", 10.0, minimum=0.1),
            spotify_sign_in_rate=_float(env, "SPOTIFY_SIGN_IN_RATE", 5.0, minimum=1.0),
            spotify_daily_budget=_int(env, "SPOTIFY_DAILY_BUDGET", 0, minimum=0),
            spotify_app_mode=_app_mode(env),
            spotify_timeout=_float(env, "SPOTIFY_TIMEOUT", 10.0, minimum=0.1),
            job_retention_succeeded_days=_int(env, "JOB_RETENTION_SUCCEEDED_DAYS", 7, minimum=1),
            job_retention_failed_days=_int(env, "JOB_RETENTION_FAILED_DAYS", 30, minimum=1),
            base_url=_base_url(env, port),
            forwarded_allow_ips=_forwarded_allow_ips(env),
            refresh_cooldown_seconds=_int(env, "REFRESH_COOLDOWN_SECONDS", 300, minimum=0),
            compare_computes_per_minute=_int(env, "COMPARE_COMPUTES_PER_MINUTE", 60, minimum=1),
            group_max_members=_int(env, "GROUP_MAX_MEMBERS", 5, minimum=2),
            log_format=_choice(env, "LOG_FORMAT", LOG_FORMATS),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, upper=True),
            sign_ins_per_minute=_int(env, "SIGN_INS_PER_MINUTE", 10, minimum=1),
            extra={k: v for k, v in env.items() if k.startswith("DEMO_SPOTIFY_")},
        )

    # Any: each keyword has its own field's type, which a signature over all of them
    # cannot say; ``replace`` refuses an unknown name at run time.
    def but(self, **changes: Any) -> Settings:
        """A copy with some settings changed (for tests and the dev runner)."""
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite:")

    def redacted(self) -> dict[str, str]:
        """The settings as strings with secrets hidden, for logs and the CLI."""
        hidden = {"spotify_client_secret", "secret_key", "token_keys", "metrics_token"}
        out = {}
        for name in self.__dataclass_fields__:
            if name == "extra":
                continue
            value = getattr(self, name)
            out[name] = "***" if name in hidden and value else str(value)
        for name in ("database_url", "redis_url"):
            out[name] = _without_password(out[name])
        return out


SPOTIFY_APP_MODES = ("development", "extended")
# Spotify's cap on the people a Development Mode app may have (since March 2026).
DEVELOPMENT_MODE_PEOPLE = 5


def _app_mode(env: Mapping[str, str]) -> str:
    """SPOTIFY_APP_MODE: ``development`` (at most five people, on the app's user list in
    Spotify's dashboard) or ``extended``."""
    mode = env.get("SPOTIFY_APP_MODE", "").strip().lower() or "development"
    if mode not in SPOTIFY_APP_MODES:
        raise SettingsError(f"SPOTIFY_APP_MODE must be development or extended, not {mode!r}")
    return mode


# The first of each is the default.
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("INFO", "DEBUG", "WARNING", "ERROR", "CRITICAL")


def _choice(
    env: Mapping[str, str], name: str, choices: tuple[str, ...], upper: bool = False
) -> str:
    """The setting ``name``, one of ``choices`` (the first when unset or blank)."""
    raw = env.get(name, "").strip()
    value = (raw.upper() if upper else raw.lower()) or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def _without_password(url: str) -> str:
    """``url`` with its password, if any, shown as ``***`` (the embedded Redis has one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))
