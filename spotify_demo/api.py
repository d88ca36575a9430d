"""The Web API routes of the demo Spotify (``/v1``): the current user, the library, artists."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bottle import Bottle, HTTPResponse, request

from spotify_demo import objects
from spotify_demo.accounts import Grants
from spotify_demo.catalog import Catalog, Saved, User, is_spotify_id
from spotify_demo.limits import Limits
from spotify_demo.responses import api_error, base_url, json_response
from spotify_demo.tokens import ACCESS, APP_USER, Token, TokenError, TokenExpired, TokenSigner

FOLLOW_SCOPE = "user-follow-read"
# Spotify's words to a Development Mode app for a person not on its user list.
NOT_REGISTERED = (
    "Check settings on developer.spotify.com/dashboard, the user may not be registered."
)
LIBRARY_SCOPE = "user-library-read"


class ApiRefusal(Exception):
    """Stops a request with a Spotify error response."""

    def __init__(self, response: HTTPResponse) -> None:
        super().__init__(response.status_line)
        self.response = response


def _unauthorized(message: str) -> ApiRefusal:
    challenge = f'Bearer realm="spotify", error="invalid_token", error_description="{message}"'
    return ApiRefusal(api_error(401, message, {"WWW-Authenticate": challenge}))


def _bad_request(message: str) -> ApiRefusal:
    return ApiRefusal(api_error(400, message))


def _int_param(name: str, default: int, low: int, high: int | None = None) -> int:
    """A whole-number query parameter within bounds, else a 400 naming it."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"Invalid {name}") from None
    if value < low or (high is not None and value > high):
        raise _bad_request(f"Invalid {name}")
    return value


@dataclass(eq=False)
class Api:
    """Route handlers over one catalog and one token signer."""

    catalog: Catalog
    signer: TokenSigner
    grants: Grants
    limits: Limits

    def current_user(self, scope: str | None = None) -> User:
        """The user the request's bearer token belongs to, checking ``scope`` if given."""
        found = self.current_token()
        user = self.catalog.user(found.user_id)
        if user is None:
            # An app token (client credentials) has no user: /me and the library refuse it.
            raise _unauthorized("Invalid access token")
        if scope and scope not in found.scopes:
            raise ApiRefusal(api_error(403, "Insufficient client scope"))
        return user

    def current_token(self) -> Token:
        """The request's valid bearer token, a user's or the app's own."""
        header = request.get_header("Authorization", "")
        if not header:
            raise _unauthorized("No token provided")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise _bad_request("Only valid bearer authentication supported")
        try:
            found = self.signer.verify(token.strip(), ACCESS)
        except TokenExpired:
            raise _unauthorized("The access token expired") from None
        except TokenError:
            raise _unauthorized("Invalid access token") from None
        if self.grants.is_expired(found.user_id, found.issued_us):
            # Spotify may end a token before the expiry it announced (or the person removed
            # the app): the same answer as a token whose time is up.
            raise _unauthorized("The access token expired")
        if found.user_id != APP_USER and not self.limits.config.is_registered(found.user_id):
            # A Development Mode app and someone not on its user list: Spotify lets them
            # through the consent page, then refuses every call with this 403.
            raise ApiRefusal(api_error(403, NOT_REGISTERED))
        return found

    def me(self) -> dict[str, Any]:
        """GET /v1/me."""
        return objects.private_user(base_url(), self.current_user())

    def following(self) -> dict[str, Any]:
        """GET /v1/me/following?type=artist: cursor paging in id order."""
        user = self.current_user(FOLLOW_SCOPE)
        kind = request.query.get("type")
        if not kind:
            raise _bad_request("Missing parameter type")
        if kind != "artist":
            raise _bad_request("Invalid type: only artist is supported")
        limit = _int_param("limit", 20, 1, 50)
        after = request.query.get("after") or None
        if after is not None and not is_spotify_id(after):
            raise _bad_request("Invalid after cursor")
        artists = self.catalog.followed_after(user.id, after, limit)
        end = bisect.bisect_right(user.followed, artists[-1].id) if artists else 0
        url = f"{base_url()}/v1/me/following?type=artist"
        return {
            "artists": {
                "href": f"{url}{f'&after={after}' if after else ''}&limit={limit}",
                "limit": limit,
                "next": f"{url}&after={artists[-1].id}&limit={limit}"
                if artists and end < len(user.followed)
                else None,
                "cursors": {"after": artists[-1].id} if artists else {},
                "total": len(user.followed),
                "items": [objects.artist_object(base_url(), a) for a in artists],
            }
        }

    def saved_tracks(self) -> dict[str, Any]:
        """GET /v1/me/tracks: offset paging, newest first."""
        user = self.current_user(LIBRARY_SCOPE)
        return self._saved_page("track", user.saved_tracks, self._track)

    def saved_albums(self) -> dict[str, Any]:
        """GET /v1/me/albums: offset paging, newest first."""
        user = self.current_user(LIBRARY_SCOPE)
        return self._saved_page("album", user.saved_albums, self._album)

    def _track(self, base: str, track_id: str) -> dict[str, Any]:
        return objects.track_object(base, self.catalog, self.catalog.tracks[track_id])

    def _album(self, base: str, album_id: str) -> dict[str, Any]:
        return objects.album_object(base, self.catalog, self.catalog.albums[album_id])

    def _saved_page(
        self,
        kind: str,
        saved: Sequence[Saved],
        item_object: Callable[[str, str], dict[str, Any]],
    ) -> dict[str, Any]:
        """One page of saved ``kind`` items ("track" or "album"), each with when it was saved."""
        limit, offset = _int_param("limit", 20, 1, 50), _int_param("offset", 0, 0)
        base = base_url()
        items = [
            {"added_at": item.added_at, kind: item_object(base, item.item_id)}
            for item in saved[offset : offset + limit]
        ]
        return objects.offset_page(f"{base}/v1/me/{kind}s", items, offset, limit, len(saved))

    def artist(self, artist_id: str) -> dict[str, Any]:
        """GET /v1/artists/{id}: catalog data, for a user's token or the app's."""
        self.current_token()
        if not is_spotify_id(artist_id):
            raise _bad_request("invalid id")
        artist = self.catalog.artist(artist_id)
        if artist is None:
            raise ApiRefusal(api_error(404, "Resource not found"))
        return objects.artist_object(base_url(), artist)

    def several_artists(self) -> HTTPResponse:
        """GET /v1/artists?ids=: deprecated, so deliberately not served."""
        return api_error(404, "Service not found (the demo does not serve deprecated endpoints)")


def _as_json(handler: Callable[..., Any]) -> Callable[..., HTTPResponse]:
    """Wrap a handler so that its data or its refusal becomes the response."""

    def route(**kwargs: Any) -> HTTPResponse:
        try:
            result = handler(**kwargs)
        except ApiRefusal as refusal:
            return refusal.response
        return result if isinstance(result, HTTPResponse) else json_response(result)

    return route


def install(
    app: Bottle, catalog: Catalog, signer: TokenSigner, grants: Grants, limits: Limits
) -> None:
    """Add the ``/v1`` routes to ``app``."""
    api = Api(catalog, signer, grants, limits)
    app.get("/v1/me", callback=_as_json(api.me))
    # Spotify answers /v1/me/ as well, and spotipy's current_user() asks for that one.
    app.get("/v1/me/", callback=_as_json(api.me))
    app.get("/v1/me/following", callback=_as_json(api.following))
    app.get("/v1/me/tracks", callback=_as_json(api.saved_tracks))
    app.get("/v1/me/albums", callback=_as_json(api.saved_albums))
    app.get("/v1/artists/<artist_id>", callback=_as_json(api.artist))
    app.get("/v1/artists", callback=_as_json(api.several_artists))
