"""The friend a typed code names, behind the guess limit (``web.state.guess_limit``), and the
friend an id names, for someone they let in (``models/compared.py``)."""

from __future__ import annotations

from models import ComparedWith, User
from models.group import sees_in_a_group
from models.user import normalize_friend_code
from web.http import request_context


def _guess_keys() -> tuple[int | None, str]:
    # A signed-out visitor (a share link's welcome page) is counted by address alone.
    user = request_context.current_user()
    return (user.id if user is not None else None), request_context.client_address()


TOO_MANY = "Too many wrong codes. Wait ten minutes and try again."


def find_friend(
    raw: str, malformed_status: int = 400, known_to: User | None = None
) -> tuple[User | None, str | None, int]:
    """The friend a typed code belongs to, or (None, why not, HTTP status).

    ``known_to``: a link followed by this signed-in person, whose own list's people are
    not guesses: past the limit, a code of someone already on it still opens. A typed
    code never passes this (the form does not give it)."""
    guard = request_context.services().guess_limit
    keys = _guess_keys()
    if not guard.take(*keys):
        friend = _on_list_of(known_to, raw) if known_to is not None else None
        return (friend, None, 200) if friend is not None else (None, TOO_MANY, 429)
    code = normalize_friend_code(raw)
    if code is None:
        return (
            None,
            "That is not a friend code: a code has ten letters and digits.",
            malformed_status,
        )
    friend = User.get_or_none(User.friend_code == code)
    if friend is None:
        return None, "No one has that friend code. Check it with your friend.", 404
    guard.give_back(*keys)
    return friend, None, 200


def _on_list_of(user: User, raw: str) -> User | None:
    """The person ``raw`` is the code of, when they are on ``user``'s list; else None (one
    lookup, made only for a person already past the guess limit)."""
    code = normalize_friend_code(raw)
    friend = User.get_or_none(User.friend_code == code) if code is not None else None
    if friend is None or not ComparedWith.on_list(user, friend.id):
        return None
    return friend


def shared_friend(me: User, person: str) -> User | None:
    """The person ``person`` (an id) names, when they let ``me`` see their library; None
    alike for someone who does not exist and someone who has not let ``me`` in."""
    number = request_context.row_id(person)
    friend = User.get_or_none(User.id == number) if number is not None else None
    if friend is None or friend.id == me.id or not ComparedWith.can_see(me, friend):
        return None
    return friend


def group_friend(me: User, person: str) -> User | None:
    """The person ``person`` (an id) names, when they and ``me`` both joined one group."""
    number = request_context.row_id(person)
    friend = User.get_or_none(User.id == number) if number is not None else None
    if friend is None or friend.id == me.id or not sees_in_a_group(me, friend.id):
        return None
    return friend
