"""A group as its page, its poll and the API show it, and the codes its form reads.

Only joined members see the figures; an invitee sees the names. Nothing here shows a
friend code or a user id: members are named by their number in the group. Reading sends
no work: the routes that want syncs or listener counts call ``sync_stale_members`` and
``ask_for_group_counts`` themselves, where it shows.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import redis

from jobs.shared_first import send_group_first
from models import User, current_month
from models.group import Group, Member, counted_members
from models.group_comparison import GroupReport
from web.http import request_context
from web.http.services import Services
from web.views.comparison import counts_wait
from web.views.friends import find_friend
from web.views.sync_status import sync_view

# Artists two or more hold, per page of the group.
GROUP_PAGE_SIZE = 50
# A group's missing counts are looked up again after this long even when their number
# did not move (a sent message lost, or one artist's count landing as another's was read).
ASK_AGAIN_S = 30
# Colour steps of the match grid (classes heat-0 .. heat-5 in static/style.css).
HEAT_STEPS = 5


def typed_codes(raw: str) -> list[str]:
    """The codes typed in the group form: split on spaces and commas, empty ones dropped."""
    return [part for part in re.split(r"[\s,]+", raw[:1024]) if part]


def friends_of_codes(
    me: User, codes: list[str], max_members: int
) -> tuple[list[User], str | None, int]:
    """The people the typed codes name, in order; or (what was found, the form's error, its
    HTTP status). Each code is one guess for the friend-code guess limit."""
    if not codes:
        return [], "Type the friend codes of the people to invite.", 400
    most = max_members - 1
    if len(codes) > most:
        return [], f"A group has at most {max_members} people: type up to {most} codes.", 400
    friends: list[User] = []
    for code in codes:
        friend, problem, status = find_friend(code)
        if friend is None:
            # Which code failed, in the owner's own typing (never someone else's code).
            return [], f"{code[:24]}: {problem}", status
        if friend.id == me.id:
            return [], f"{code[:24]}: that is your own code.", 400
        if friend.id not in {f.id for f in friends}:
            friends.append(friend)
    return friends, None, 200


def member_by_number(members: list[Member], raw: str) -> Member | None:
    """The joined member a number in the address names, else None."""
    number = request_context.row_id(raw)
    return next((m for m in members if m.number == number and m.joined), None)


def _people(members: list[Member], me: User, report: GroupReport | None) -> list[dict]:
    return [
        {
            "id": m.number,
            "display_name": m.user.name,
            # Nothing of an invitee's library is shown, not even its size.
            "artist_count": report.counts.get(m.number) if report and m.joined else None,
            "joined": m.joined,
            "you": m.user.id == me.id,
        }
        for m in members
    ]


def heat(match: float) -> int:
    """The colour step of a match figure in the grid."""
    return min(HEAT_STEPS, int(match * HEAT_STEPS + 0.5))


def read_group(
    services: Services,
    me: User,
    group: Group,
    limit: int = GROUP_PAGE_SIZE,
    offset: int = 0,
) -> dict[str, Any]:
    """The values of the group's page and API. Computes only for a joined member (raising
    ``ComparisonRefused`` as a comparison does); sends nothing."""
    members = group.members()
    mine = next(m for m in members if m.user.id == me.id)
    counted = counted_members(members)
    report = None
    if mine.joined:
        report = services.comparisons.group(
            group.key, counted, me.id, current_month(), limit=limit, offset=offset
        )
    syncs = [(m, sync_view(m.user)) for m in members if m.joined]
    pending = report.pending if report else 0
    complete = bool(
        report
        and len(counted) >= 2
        and all(m.user.last_synced_at is not None for m, _ in syncs)
        and not any(s["active"] for _, s in syncs)
        and pending == 0
    )
    names = {m.number: ("you" if m.user.id == me.id else m.user.name) for m in members}
    return {
        "group": group,
        "base": f"/groups/{group.key}",
        "me": me,
        "mine": mine,
        "members": members,
        "people": _people(members, me, report),
        "names": names,
        "r": report,
        "syncs": syncs,
        "complete": complete,
        **counts_wait(services, pending),
        "pairs": {(p.a, p.b): p for p in report.pairs} if report else {},
        "heat": heat,
        "page": offset // limit + 1,
        "pages": max(1, -(-(report.artists_count if report else 0) // limit)),
    }


def sync_stale_members(services: Services, view: dict[str, Any]) -> None:
    """Ask for a sync of each joined member's library that is missing or stale."""
    for member in view["members"]:
        if member.joined:
            services.request_sync(member.user, requested_by="group")


def ask_for_group_counts(services: Services, view: dict[str, Any]) -> None:
    """Ask for the listener counts of the artists two or more members hold ahead of the
    rest, each once (jobs/shared_first.py); nothing when none is missing or Redis is away.

    Finding which are missing groups the members' links again, as costly as the report,
    so it runs once per figure of missing counts and ``ASK_AGAIN_S``, not on every poll
    (a cached poll would cost as much as an uncached one)."""
    report, ref = view["r"], services.redis_ref
    if report is None or not report.pending or ref is None:
        return
    user_ids = [m.user.id for m in view["members"] if m.joined]
    who = ",".join(map(str, user_ids))
    with contextlib.suppress(redis.RedisError):
        asked = ref.key("group-asked", view["group"].key, who, report.pending)
        if ref.client.set(asked, 1, nx=True, ex=ASK_AGAIN_S):
            send_group_first(ref, user_ids, current_month())
