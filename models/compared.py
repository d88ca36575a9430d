"""Who may see whose library: the one access model of the app.

A row (owner, other) that is not hidden lets ``other`` see ``owner``'s library, and so
open their comparison. Nothing opened by a GET makes a row: only a POST does, when a
signed-in person types a friend's code (``let_in``) or an owner invites someone back.

- Typing Ana's code lets you see Ana's library *through that code* (``via_code`` holds
  it), and lets Ana see yours, by your own act (``via_code`` is empty).
- Ana's new friend code ends the access of everyone let in through the old one
  (``end_code``), except those she chose to keep (``keep`` empties ``via_code``).
- Ana's "Remove" hides the row at once and bars re-entry through the code she had then
  (``barred_code``), until she invites the person again or gets a new code.

Rows from before this model (migration 0009) count as the owner's own act: they stay,
and each owner can see and cut them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from peewee import EXCLUDED, BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField

from models.db import BaseModel, database, tuple_rows, utcnow
from models.user import User, UserArtist


@dataclass(frozen=True)
class Person:
    """One person on someone's list, and which way the libraries are open."""

    user: User
    # They may see my library / I may see theirs.
    sees_mine: bool
    i_see_theirs: bool
    # Let in through my friend code of the time (ends with a new code unless kept).
    through_my_code: bool
    match: float | None
    seen_at: dt.datetime


class ComparedWith(BaseModel):
    """That ``other`` may see ``owner``'s library (unless hidden), since when, and how."""

    owner = ForeignKeyField(User, on_delete="CASCADE", backref="compared")
    other = ForeignKeyField(User, on_delete="CASCADE")
    match = FloatField(null=True)
    seen_at = DateTimeField(default=utcnow)
    hidden = BooleanField(default=False)
    # The owner's friend code through which ``other`` came in; None: the owner's own act.
    via_code = CharField(max_length=16, null=True)
    # While hidden by the owner's "Remove": the owner's code then, closed to ``other``.
    barred_code = CharField(max_length=16, null=True)

    class Meta:
        table_name = "compared_with"
        indexes = (
            (("owner", "other"), True),
            # The home page's list: one person's visible rows, newest first.
            (("owner", "hidden", "seen_at"), False),
        )

    @classmethod
    def can_see(cls, viewer: User, owner: User) -> bool:
        """Whether ``viewer`` may see ``owner``'s library (and so their comparison)."""
        return (
            cls.select()
            .where((cls.owner == owner.id) & (cls.other == viewer.id) & ~cls.hidden)
            .exists()
        )

    @classmethod
    def on_list(cls, user: User, other_id: int) -> bool:
        """Whether ``other_id`` is on ``user``'s "Your people" list (either way round)."""
        return (
            cls.select()
            .where(
                (
                    ((cls.owner == user.id) & (cls.other == other_id))
                    | ((cls.owner == other_id) & (cls.other == user.id))
                )
                & ~cls.hidden
            )
            .exists()
        )

    @classmethod
    def let_in(cls, opener: User, friend: User, match: float | None = None) -> bool:
        """``opener`` typed ``friend``'s code (a POST): ``opener`` may see ``friend``'s
        library through that code, and ``friend`` may see ``opener``'s, by the opener's
        own act. False, and nothing written, when ``friend`` removed ``opener`` while this
        code was theirs."""
        with database.atomic():
            theirs = cls.get_or_none((cls.owner == friend.id) & (cls.other == opener.id))
            if theirs is not None and theirs.hidden and theirs.barred_code == friend.friend_code:
                return False
            # Someone already in by the owner's own act stays so.
            kept = theirs is not None and not theirs.hidden and theirs.via_code is None
            now = utcnow()
            cls._grant(friend.id, opener.id, None if kept else friend.friend_code, match, now)
            cls._grant(opener.id, friend.id, None, match, now)
        return True

    @classmethod
    def _grant(
        cls, owner_id: int, other_id: int, via: str | None, match: float | None, now: dt.datetime
    ) -> None:
        row = {
            "owner": owner_id,
            "other": other_id,
            "match": match,
            "seen_at": now,
            "hidden": False,
            "via_code": via,
            "barred_code": None,
        }
        cls.insert(row).on_conflict(
            conflict_target=[cls.owner, cls.other],
            update={
                cls.seen_at: EXCLUDED.seen_at,
                cls.hidden: EXCLUDED.hidden,
                cls.via_code: EXCLUDED.via_code,
                cls.barred_code: EXCLUDED.barred_code,
            },
        ).execute()

    @classmethod
    def invite(cls, owner: User, other_id: int) -> int:
        """``owner`` lets ``other_id`` see their library again, by their own act: only
        someone already on their list (either way round). How many rows it opened."""
        on_list = (
            cls.select()
            .where(
                ((cls.owner == owner.id) & (cls.other == other_id))
                | ((cls.owner == other_id) & (cls.other == owner.id))
            )
            .exists()
        )
        if not on_list:
            return 0
        cls._grant(owner.id, other_id, None, None, utcnow())
        return 1

    @classmethod
    def opened(cls, me: User, friend: User, match: float | None) -> int:
        """``me`` opened the comparison with ``friend``: both rows, where they exist, show
        when and the latest final match (None: not final yet, the last one stays; no row
        is made: opening grants nothing)."""
        fields: dict[Any, Any] = {cls.seen_at: utcnow()}
        if match is not None:
            fields[cls.match] = match
        changed: int = (
            cls.update(fields)
            .where(
                ((cls.owner == me.id) & (cls.other == friend.id))
                | ((cls.owner == friend.id) & (cls.other == me.id))
            )
            .execute()
        )
        return changed

    @classmethod
    def update_match(cls, me: User, friend: User, match: float) -> int:
        """Store the finished comparison's match for both; writes nothing when unchanged."""
        changed: int = (
            cls.update(match=match)
            .where(
                (
                    ((cls.owner == me.id) & (cls.other == friend.id))
                    | ((cls.owner == friend.id) & (cls.other == me.id))
                )
                & ((cls.match.is_null()) | (cls.match != match))
            )
            .execute()
        )
        return changed

    @classmethod
    def people_of(cls, user: User, limit: int = 50) -> list[Person]:
        """Everyone on ``user``'s list: who may see their library, whose they may see,
        newest first."""
        rows = list(
            tuple_rows(
                cls.select(cls.owner, cls.other, cls.via_code, cls.match, cls.seen_at)
                .where(((cls.owner == user.id) | (cls.other == user.id)) & ~cls.hidden)
                .order_by(cls.seen_at.desc(), cls.id.desc())
            )
        )
        # (owner, other, via_code, match, seen_at): mine are rows I own, theirs name me.
        mine = {row[1]: row for row in rows if row[0] == user.id}
        theirs = {row[0]: row for row in rows if row[1] == user.id}
        order = list(dict.fromkeys(row[1] if row[0] == user.id else row[0] for row in rows))
        users = {u.id: u for u in User.select().where(User.id.in_(order[:limit]))}
        people = []
        for other_id in order[:limit]:
            row = mine.get(other_id) or theirs[other_id]
            people.append(
                Person(
                    user=users[other_id],
                    sees_mine=other_id in mine,
                    i_see_theirs=other_id in theirs,
                    through_my_code=other_id in mine and mine[other_id][2] is not None,
                    match=row[3],
                    seen_at=row[4],
                )
            )
        return people

    @classmethod
    def remove(cls, owner: User, other_id: int) -> int:
        """End ``other_id``'s sight of ``owner``'s library at once, and bar their coming
        back through ``owner``'s current code."""
        hidden: int = (
            cls.update(hidden=True, via_code=None, barred_code=owner.friend_code)
            .where((cls.owner == owner.id) & (cls.other == other_id))
            .execute()
        )
        return hidden

    @classmethod
    def keep(cls, owner: User, other_id: int) -> int:
        """Keep ``other_id`` in when ``owner`` gets a new friend code."""
        kept: int = (
            cls.update(via_code=None)
            .where((cls.owner == owner.id) & (cls.other == other_id) & ~cls.hidden)
            .execute()
        )
        return kept

    @classmethod
    def end_code(cls, owner: User, old_code: str) -> int:
        """``owner`` has a new friend code: everyone let in through ``old_code`` and not
        kept loses sight of their library. How many did."""
        ended: int = (
            cls.delete()
            .where((cls.owner == owner.id) & (cls.via_code == old_code) & ~cls.hidden)
            .execute()
        )
        return ended

    @classmethod
    def artist_visible(cls, viewer: User, artist_id: int) -> bool:
        """Whether ``viewer`` has the artist, or can see the library of someone who has it:
        nobody else learns that overlap holds it."""
        shown_to_viewer = cls.select(cls.owner).where((cls.other == viewer.id) & ~cls.hidden)
        return (
            UserArtist.select()
            .where(
                (UserArtist.artist == artist_id)
                & ((UserArtist.user == viewer.id) | UserArtist.user.in_(shown_to_viewer))
            )
            .exists()
        )

    @classmethod
    def forget(cls, user_id: int) -> int:
        """Delete every row about ``user_id``, theirs and those naming them."""
        deleted: int = cls.delete().where((cls.owner == user_id) | (cls.other == user_id)).execute()
        return deleted
