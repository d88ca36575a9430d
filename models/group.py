"""Groups of three to five friends, and who of them may see what.

The access model is the comparison's (``models/compared.py``): typing codes grants nothing
to the one who types them. Typing friends' codes into the group form *invites* them; an
invitee sees the group's names only, and their library counts nowhere, until they join
by their own POST. A member who leaves is gone from every figure at once (their row is
deleted). Only members and invitees see the group; to anyone else it does not exist.

Members are named inside a group by a small number (1 for whoever made it, then in the
order the codes were typed), never by a user id or a friend code. The group's address is
22 random URL-safe characters (128 bits), so nobody finds one by guessing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, fn

from models.db import BaseModel, database, tuple_rows, utcnow
from models.user import User, UserArtist

# 16 random bytes: 128 bits, over the 96 the design asks for.
KEY_BYTES = 16
# A key as ``secrets.token_urlsafe`` writes it (22 characters for 16 bytes), and no other.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def new_group_key() -> str:
    """A fresh unguessable group address."""
    return secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True)
class Member:
    """One person of a group, as the group names them."""

    number: int
    user: User
    joined: bool


class Group(BaseModel):
    """A circle of friends who compare their libraries together."""

    key = CharField(max_length=32, unique=True, default=new_group_key)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "friend_group"

    @classmethod
    def start(cls, creator: User, invited: Sequence[User]) -> Group:
        """A new group made by ``creator`` (its member 1, joined) inviting ``invited``."""
        with database.atomic():
            group: Group = cls.create()
            now = utcnow()
            rows = [{"group": group.id, "user": creator.id, "number": 1, "joined_at": now}]
            rows += [
                {"group": group.id, "user": user.id, "number": i, "joined_at": None}
                for i, user in enumerate(invited, start=2)
            ]
            GroupMember.insert_many(rows).execute()
        return group

    @classmethod
    def visible_to(cls, user: User, key: str) -> Group | None:
        """The group at ``key`` when ``user`` is a member or invitee; None alike for one
        that does not exist and one they are not in."""
        # Only what ``new_group_key`` makes: a NUL, which PostgreSQL refuses in a text
        # parameter (a 500 for "/groups/%00"), or any other character names no group.
        if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
            return None
        found: Group | None = (
            cls.select()
            .join(GroupMember)
            .where((cls.key == key) & (GroupMember.user == user.id))
            .first()
        )
        return found

    def members(self) -> list[Member]:
        """Everyone in the group, joined or invited, by number."""
        query = (
            GroupMember.select(GroupMember, User)
            .join(User)
            .where(GroupMember.group == self.id)
            .order_by(GroupMember.number)
        )
        return [Member(row.number, row.user, row.joined_at is not None) for row in query]

    def join(self, user: User) -> bool:
        """``user`` accepts the invitation (their own act); False when not invited."""
        changed: int = (
            GroupMember.update(joined_at=utcnow())
            .where(
                (GroupMember.group == self.id)
                & (GroupMember.user == user.id)
                & GroupMember.joined_at.is_null()
            )
            .execute()
        )
        return changed > 0

    def leave(self, user: User) -> None:
        """``user`` leaves (or declines): nothing of theirs counts from now on. The group
        goes once nobody is left in it."""
        with database.atomic():
            GroupMember.delete().where(
                (GroupMember.group == self.id) & (GroupMember.user == user.id)
            ).execute()
            if not GroupMember.select().where(GroupMember.group == self.id).exists():
                Group.delete().where(Group.id == self.id).execute()

    @classmethod
    def of(cls, user: User) -> list[tuple[Group, bool, int]]:
        """The groups ``user`` is in or invited to, newest first: (group, joined, how many
        people are in it), for the home page."""
        mine = {
            group_id: joined
            for group_id, joined in tuple_rows(
                GroupMember.select(GroupMember.group, GroupMember.joined_at).where(
                    GroupMember.user == user.id
                )
            )
        }
        sizes = dict(
            tuple_rows(
                GroupMember.select(GroupMember.group, fn.COUNT(GroupMember.id))
                .where(GroupMember.group.in_(list(mine)))
                .group_by(GroupMember.group)
            )
        )
        groups = cls.select().where(cls.id.in_(list(mine))).order_by(cls.created_at.desc())
        return [(g, mine[g.id] is not None, sizes.get(g.id, 0)) for g in groups]

    @classmethod
    def forget(cls, user_id: int) -> int:
        """Take ``user_id`` out of every group (account deletion): the groups go on without
        them, and one left empty goes."""
        with database.atomic():
            left: int = GroupMember.delete().where(GroupMember.user == user_id).execute()
            Group.delete().where(
                cls.id.not_in(GroupMember.select(GroupMember.group).distinct())
            ).execute()
        return left


class GroupMember(BaseModel):
    """That ``user`` is in ``group`` as its member ``number``: joined, or only invited."""

    group = ForeignKeyField(Group, on_delete="CASCADE", backref="member_rows")
    user = ForeignKeyField(User, on_delete="CASCADE")
    number = IntegerField()
    invited_at = DateTimeField(default=utcnow)
    # None: invited and not joined yet; nothing of theirs is shown or counted.
    joined_at = DateTimeField(null=True)

    class Meta:
        table_name = "group_member"
        indexes = (
            (("group", "user"), True),
            (("group", "number"), True),
        )


def _co_members(viewer_id: int) -> Any:
    """The people in a group that ``viewer_id`` joined who joined it too (a subquery)."""
    mine = GroupMember.alias()
    return (
        GroupMember.select(GroupMember.user)
        .join(mine, on=(mine.group == GroupMember.group))
        .where(
            (mine.user == viewer_id)
            & mine.joined_at.is_null(False)
            & GroupMember.joined_at.is_null(False)
        )
    )


def sees_in_a_group(viewer: User, other_id: int) -> bool:
    """Whether ``viewer`` and ``other_id`` both joined one group, so each sees the other's
    library there (and on the artist pages the group page links to)."""
    found: bool = _co_members(viewer.id).where(GroupMember.user == other_id).exists()
    return found


def artist_visible_in_groups(viewer: User, artist_id: int) -> bool:
    """Whether someone in a group ``viewer`` joined (who joined it too) has the artist."""
    return (
        UserArtist.select()
        .where((UserArtist.artist == artist_id) & UserArtist.user.in_(_co_members(viewer.id)))
        .exists()
    )


def counted_members(member_rows: Sequence[Member]) -> list[tuple[int, int]]:
    """(number, user id) of the members who joined: the people the figures count."""
    return [(m.number, m.user.id) for m in member_rows if m.joined]


__all__ = [
    "Group",
    "GroupMember",
    "Member",
    "artist_visible_in_groups",
    "counted_members",
    "new_group_key",
    "sees_in_a_group",
]
