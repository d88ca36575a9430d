"""The people a person has compared with, as the home page lists them.

A comparison is visible to both people in it, as Spotify's Blend is: opening one records
it for the two of them, one row each way. Removing one from your list hides your row only;
your friend keeps theirs, and opening the comparison again brings yours back.
"""

from __future__ import annotations

from peewee import EXCLUDED, BooleanField, DateTimeField, FloatField, ForeignKeyField

from models.db import BaseModel, database, utcnow
from models.user import User


class ComparedWith(BaseModel):
    """That ``owner`` and ``other`` were compared, when last, and the headline match."""

    owner = ForeignKeyField(User, on_delete="CASCADE", backref="compared")
    other = ForeignKeyField(User, on_delete="CASCADE")
    match = FloatField(null=True)
    seen_at = DateTimeField(default=utcnow)
    hidden = BooleanField(default=False)

    class Meta:
        table_name = "compared_with"
        indexes = (
            (("owner", "other"), True),
            # The home page's list: one person's visible rows, newest first.
            (("owner", "hidden", "seen_at"), False),
        )

    @classmethod
    def record(cls, opener: User, friend: User, match: float | None) -> None:
        """``opener`` opened the comparison with ``friend``: a row for each, at once (one
        statement); the opener's row is shown again if it was removed, the friend's keeps
        their choice."""
        now = utcnow()
        rows = [
            {"owner": opener.id, "other": friend.id, "match": match, "seen_at": now},
            {"owner": friend.id, "other": opener.id, "match": match, "seen_at": now},
        ]
        with database.atomic():
            cls.insert_many(rows).on_conflict(
                conflict_target=[cls.owner, cls.other],
                update={cls.match: EXCLUDED.match, cls.seen_at: EXCLUDED.seen_at},
            ).execute()
            cls.update(hidden=False).where(
                (cls.owner == opener.id) & (cls.other == friend.id) & cls.hidden
            ).execute()

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
    def people_of(cls, user: User, limit: int = 50) -> list[ComparedWith]:
        """The people ``user`` compared with and did not remove, newest first, with the
        other person loaded in the same query."""
        return list(
            cls.select(cls, User)
            .join(User, on=(cls.other == User.id))
            .where((cls.owner == user.id) & ~cls.hidden)
            .order_by(cls.seen_at.desc(), cls.id.desc())
            .limit(limit)
        )

    @classmethod
    def remove(cls, owner: User, other_id: int) -> int:
        """Hide ``other_id`` from ``owner``'s list (theirs is left as it is)."""
        hidden: int = (
            cls.update(hidden=True)
            .where((cls.owner == owner.id) & (cls.other == other_id))
            .execute()
        )
        return hidden

    @classmethod
    def forget(cls, user_id: int) -> int:
        """Delete every row about ``user_id``, theirs and those naming them."""
        deleted: int = cls.delete().where((cls.owner == user_id) | (cls.other == user_id)).execute()
        return deleted
