"""A running demo Spotify seen from a test: its URLs, its catalog, tokens and runtime controls.

Any conftest can start one with ``running_demo(config)`` and hand the ``DemoSpotify`` to its
tests; nothing here talks to the app except over HTTP, like a real client would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from config.settings import Settings
from spotify_demo.building import build_catalog
from spotify_demo.catalog import Catalog
from spotify_demo.config import DemoConfig
from spotify_demo.server import start_in_thread
from spotify_demo.tokens import ACCESS, ALL_SCOPES, REFRESH, TokenSigner


@dataclass
class DemoSpotify:
    """Handle on a demo Spotify server running in this process."""

    base_url: str
    config: DemoConfig
    catalog: Catalog
    http: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def api_url(self) -> str:
        """Where the Web API lives (like ``https://api.spotify.com/v1``)."""
        return f"{self.base_url}/v1"

    @property
    def accounts_url(self) -> str:
        """Where the accounts service lives (like ``https://accounts.spotify.com``)."""
        return f"{self.base_url}/accounts"

    @property
    def open_url(self) -> str:
        """Where the artist pages live (like ``https://open.spotify.com``)."""
        return f"{self.base_url}/open"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(urlsplit(self.base_url).port or 80)

    def token_for(
        self, user_id: str, *, scope: str = ALL_SCOPES, expires_in: int | None = None
    ) -> str:
        """A valid access token for ``user_id`` (expired already if ``expires_in`` <= 0)."""
        ttl = self.config.token_ttl_s if expires_in is None else expires_in
        return TokenSigner(self.config.token_key).issue(ACCESS, user_id, scope, ttl)

    def refresh_token_for(self, user_id: str, *, scope: str = ALL_SCOPES) -> str:
        """A valid refresh token for ``user_id``, as the token endpoint would issue."""
        return TokenSigner(self.config.token_key).issue(REFRESH, user_id, scope, 10 * 365 * 86400)

    def code_for(
        self, user_id: str, redirect_uri: str, *, state: str = "", scope: str = ALL_SCOPES
    ) -> str:
        """An authorization code, got by "clicking" ``user_id`` on the real consent page."""
        response = self.http.get(
            f"{self.accounts_url}/authorize/approve",
            params={
                "user_id": user_id,
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "scope": scope,
            },
            allow_redirects=False,
            timeout=10,
        )
        response.raise_for_status()
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change limits, latency or faults at runtime (``rate_limit=3``, ``fault_rate=1``)."""
        response = self.http.post(f"{self.base_url}/_demo/config", json=changes, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Restore the start-up config and clear counters, windows, quotas and revocations."""
        self.http.post(f"{self.base_url}/_demo/reset", timeout=10).raise_for_status()

    def revoke(self, user_id: str) -> None:
        """Revoke every refresh token issued so far to ``user_id``, and its access tokens."""
        response = self.http.post(
            f"{self.base_url}/_demo/revoke", json={"user_id": user_id}, timeout=10
        )
        response.raise_for_status()

    def expire(self, user_id: str) -> None:
        """End the access tokens issued so far to ``user_id`` ("" for the app's own) early."""
        response = self.http.post(
            f"{self.base_url}/_demo/expire", json={"user_id": user_id}, timeout=10
        )
        response.raise_for_status()

    def stats(self) -> dict[str, Any]:
        """The server's counters since the last reset."""
        response = self.http.get(f"{self.base_url}/_demo/stats", timeout=10)
        response.raise_for_status()
        return response.json()

    def settings(self, **env: str) -> Settings:
        """App settings in demo mode pointing at this server, plus ``env`` overrides."""
        base = {"DEMO_SPOTIFY_PORT": str(self.port), "SECRET_KEY": "demo-harness-" * 3}
        return Settings.from_env({**base, **env}, read_dotenv=False)


@contextmanager
def running_demo(config: DemoConfig | None = None) -> Iterator[DemoSpotify]:
    """A demo Spotify serving on a free loopback port until the block ends."""
    config = config or DemoConfig()
    catalog = build_catalog(config.seed, config.scale, config.load_users)
    base_url, stop = start_in_thread(config, catalog=catalog)
    demo = DemoSpotify(base_url=base_url, config=config, catalog=catalog)
    try:
        yield demo
    finally:
        demo.http.close()
        stop()
