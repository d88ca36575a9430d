"""Opening a comparison as a person does: typing the friend's code (a POST with the CSRF
token), which is the one act that lets the two see each other's library."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from models import User


def compare_with(client, friend: User) -> str:
    """Type ``friend``'s code as the person signed in on ``client``; the comparison's path."""
    page = client.get("/")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    answer = client.post("/compare", {"friend_code": friend.friend_code, "csrf_token": token})
    assert answer.status_int == 303, answer.text
    path = urlsplit(answer.headers["Location"]).path
    assert path == f"/with/{friend.id}"
    return path


def opened(client, friend: User) -> str:
    """The path of the comparison of the person signed in on ``client`` with ``friend``,
    letting the two see each other's library first if they cannot yet (as typing the code
    would; tests of that act itself use ``compare_with``)."""
    from models import ComparedWith

    me = User.get(User.spotify_id == client.get("/api/me").json["spotify_id"])
    if not ComparedWith.can_see(me, friend):
        ComparedWith.let_in(me, friend)
    return f"/with/{friend.id}"


def words(page_html: str) -> str:
    """What a page says, as a person reads it: no tags, entities read, spaces collapsed."""
    import html

    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page_html)).split())
    return re.sub(r" ([.,;:])", r"\1", text)
