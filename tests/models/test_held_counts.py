"""The end of a sync on PostgreSQL is one transaction sent in two round trips
(``held_counts.complete_at_once``): whatever stops it between them leaves nothing of it."""

from __future__ import annotations

import datetime as dt

import pytest

from models import Artist, User, UserArtist, database, held_counts


class Interrupted(BaseException):
    """What Dramatiq raises in a worker's thread at its time limit or shutdown: a
    BaseException, which ``except Exception`` lets through."""


def test_an_interrupt_between_the_two_round_trips_of_a_sync_s_end_leaves_nothing_of_it(
    db, monkeypatch
):
    from models.db import is_postgres

    if not is_postgres():
        pytest.skip("SQLite ends a sync in database.atomic(); this runs in the PostgreSQL pass")
    # Given a person with a link the sync did not see this time...
    user = User.create(spotify_id="ana")
    artist = Artist.create(spotify_id="a1", name="A1")
    long_ago = dt.datetime(2026, 1, 1)
    UserArtist.create(user=user, artist=artist, source="followed", seen_at=long_ago)
    unseen = UserArtist.delete().where(UserArtist.seen_at < dt.datetime(2026, 6, 1))
    stamp = User.update(last_synced_at=dt.datetime(2026, 6, 2)).where(User.id == user.id)
    # ...when the worker is interrupted once the first round trip (BEGIN, the removal) is
    # done, before the second (the counts, the stamp, COMMIT) is sent,
    sent = held_counts._at_once

    def first_only(strings):
        if sent_once:
            raise Interrupted
        sent_once.append(True)
        return sent(strings)

    sent_once: list[bool] = []
    monkeypatch.setattr(held_counts, "_at_once", first_only)
    with database.connection_context():
        with pytest.raises(Interrupted):
            held_counts.complete_at_once(user.id, unseen.sql(), stamp.sql())
        # then the transaction is not left open on the connection going back to the pool,
        assert not database.connection().info.transaction_status  # idle
    # and nothing of the removal happened.
    assert sent_once
    assert UserArtist.select().count() == 1
    assert User.get_by_id(user.id).last_synced_at is None
