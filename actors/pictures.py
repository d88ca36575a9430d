"""``cache_pictures``: fetch the pictures a comparison's share card shows (thin: see
sync.pictures)."""

from __future__ import annotations

import dramatiq

from actors import runtime
from actors.retry_policy import retry_when
from jobs import queueing
from sync.pictures import cache_pictures as fetch_card_pictures


# On the shared queue, after a person's own sync (0) and the shared artists' counts (5):
# an open comparison waits for it, but its card can draw initials until it has run.
@dramatiq.actor(
    actor_name=queueing.CACHE_PICTURES,
    queue_name=queueing.SHARED_QUEUE,
    priority=6,
    retry_when=retry_when,
    time_limit=2 * 60 * 1000,
)
def cache_pictures(me_id: int, friend_id: int) -> None:
    """Fetch the card pictures of the comparison of these two people not held yet."""
    fetch_card_pictures(runtime.context().settings, me_id, friend_id)
