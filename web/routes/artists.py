"""An artist's own page: its monthly listeners over the months held, and who has it.

It is reached from a comparison, so the friend comes in the query (``?with=<id>``), and
is shown only when they have let the signed-in person see their library.
"""

from __future__ import annotations

import bottle

from models import Artist, ArtistListeners, ComparedWith, User, UserArtist
from models.group import artist_visible_in_groups
from web.http.auth_guard import login_required, sign_in_first
from web.http.request_context import page_error, render
from web.http.services import Services
from web.views.comparison import shown_image
from web.views.friends import group_friend, shared_friend
from web.views.listener_chart import listener_chart, short_count


def mount(app: bottle.Bottle, services: Services) -> None:
    """Add the artist routes to ``app``."""

    @app.get("/artists/<spotify_id>")
    @login_required(otherwise=sign_in_first)
    def artist_page(me: User, spotify_id: str) -> str:
        # A NUL never names an artist, and PostgreSQL refuses one in a text parameter (a
        # 500 for "/artists/%00" before this check).
        artist = (
            None
            if "\x00" in spotify_id
            else Artist.get_or_none(Artist.spotify_id == spotify_id[:64])
        )
        # Only someone who has the artist, or sees the library of someone who has it, learns
        # that overlap holds it: everyone else gets the answer for no artist at all.
        if artist is None or not (
            ComparedWith.artist_visible(me, artist.id) or artist_visible_in_groups(me, artist.id)
        ):
            return page_error(404, "overlap knows no artist by that id.", title="No such artist")
        friend = None
        if "with" in bottle.request.query:
            friend = shared_friend(me, bottle.request.query.get("with") or "")
            friend = friend or group_friend(me, bottle.request.query.get("with") or "")
            if friend is None:
                return page_error(404, "There is no comparison here.", title="Cannot compare")
        people = [me.id] if friend is None else [me.id, friend.id]
        sources = UserArtist.sources_of(people, artist.id)
        history = ArtistListeners.history(artist.id)
        return render(
            "artist.html",
            artist=artist,
            image=shown_image(artist.image_url),
            history=history,
            chart=listener_chart(history),
            short_count=short_count,
            friend=friend,
            my_sources=sources.get(me.id, []),
            their_sources=sources.get(friend.id, []) if friend else [],
        )
