"""The comparison page asks for its pending shared artists first, once however often it
polls (the order itself is tested with real workers in tests/jobs/test_shared_first.py)."""

from __future__ import annotations

from actors.testing import enqueued
from jobs import queueing
from models import Artist, ArtistListeners, User, UserArtist
from models.artist import ArtistFields
from tests.web.comparing import opened


def test_polls_of_an_incomplete_comparison_send_each_pending_shared_artist_once(
    web, signed_in_web, broker
):
    # Given Cleo and Ben share three artists, one already counted this month, and each
    # has one artist of their own without a count:
    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    ben = User.sign_in("ben", "Ben", {})
    names = ["shared-counted", "shared-a", "shared-b", "only-cleo", "only-ben"]
    ids = Artist.upsert_many([ArtistFields(f"{n:0>22}", n, "u", None, True) for n in names])
    key = {n: ids[f"{n:0>22}"] for n in names}
    UserArtist.link_many(cleo.id, [key[n] for n in names[:4]], "followed")
    UserArtist.link_many(ben.id, [key[n] for n in names[:3] + ["only-ben"]], "followed")
    ArtistListeners.record(key["shared-counted"], 10)
    broker.flush_all()

    # When the page loads and then polls twice:
    web.get(opened(web, ben))
    for _ in range(2):
        web.get(opened(web, ben), headers={"HX-Request": "true"})

    # Then the two shared artists still waiting went once each on the shared queue, and
    # nothing of one side only did (beside the artists, the open asked for the card's
    # pictures, once).
    on_shared = enqueued(broker, queueing.SHARED_QUEUE)
    sent = [m for m in on_shared if m.actor_name != queueing.CACHE_PICTURES]
    assert sorted(m.args[0] for m in sent) == [f"{'shared-a':0>22}", f"{'shared-b':0>22}"]
    assert {m.actor_name for m in sent} == {queueing.UPDATE_SHARED_ARTIST}
    assert [m.args for m in on_shared if m not in sent] == [(cleo.id, ben.id)]
    assert enqueued(broker, queueing.ARTISTS_QUEUE) == []


def test_reading_a_comparison_sends_nothing_and_asking_for_the_counts_does(
    web, signed_in_web, broker
):
    # Given Cleo and Ben share two artists without this month's count:
    from web.http import services as app_services
    from web.views.comparison import ask_for_missing_counts, read_comparison

    signed_in_web("cleo")
    cleo = User.get(User.spotify_id == "cleo")
    ben = User.sign_in("ben", "Ben", {})
    names = ["shared-a", "shared-b"]
    ids = Artist.upsert_many([ArtistFields(f"{n:0>22}", n, "u", None, True) for n in names])
    for person in (cleo, ben):
        UserArtist.link_many(person.id, list(ids.values()), "followed")
    broker.flush_all()
    services = app_services.of(web.app)

    # When the comparison is read, nothing is sent, though both counts are missing:
    view = read_comparison(services, cleo, ben, "listeners")
    assert view is not None and view["c"].pending_shared == 2
    assert enqueued(broker, queueing.SHARED_QUEUE) == []
    assert enqueued(broker, queueing.INTERACTIVE_QUEUE) == []

    # Then asking for the missing counts sends each shared artist once.
    ask_for_missing_counts(services, view)
    sent = enqueued(broker, queueing.SHARED_QUEUE)
    assert sorted(m.args[0] for m in sent) == [f"{n:0>22}" for n in names]
