from typing import Any, Protocol

import requests

class _AuthManager(Protocol):
    def get_access_token(self, as_dict: bool = ...) -> str | dict[str, Any]: ...

# Each request method gives the decoded JSON answer, or None when the body was not JSON.
class Spotify:
    prefix: str  # The Web API's address, ending in "/".
    def __init__(
        self,
        auth: str | None = None,
        requests_session: requests.Session | bool = True,
        client_credentials_manager: _AuthManager | None = None,
        oauth_manager: _AuthManager | None = None,
        auth_manager: _AuthManager | None = None,
        proxies: dict[str, str] | None = None,
        requests_timeout: float = 5,
        status_forcelist: list[int] | None = None,
        retries: int = ...,
        status_retries: int = ...,
        backoff_factor: float = 0.3,
        language: str | None = None,
    ) -> None: ...
    def current_user(self) -> Any: ...
    def artist(self, artist_id: str) -> Any: ...
    def current_user_followed_artists(self, limit: int = 20, after: str | None = None) -> Any: ...
    def current_user_saved_tracks(
        self, limit: int = 20, offset: int = 0, market: str | None = None
    ) -> Any: ...
    def current_user_saved_albums(
        self, limit: int = 20, offset: int = 0, market: str | None = None
    ) -> Any: ...
