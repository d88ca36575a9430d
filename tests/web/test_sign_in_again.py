"""Someone whose refresh token Spotify refused is told so in a sentence, and signing in
again clears it and loads their library at once, however recent their last sync."""

from __future__ import annotations

from actors.testing import assert_enqueued_with
from models import JobRun, User
from models.db import utcnow


def test_signing_in_again_after_a_refused_refresh_clears_it_and_syncs(web, signed_in_web, broker):
    signed_in_web("cleo")
    user = User.get(User.spotify_id == "cleo")
    JobRun.delete().execute()
    broker.flush_all()
    User.update(last_synced_at=utcnow()).where(User.id == user.id).execute()  # not stale
    user.mark_needs_reauth()
    assert "Spotify asks you to sign in again" in web.get("/").text

    signed_in_web("cleo")

    assert not User.get_by_id(user.id).needs_reauth
    assert_enqueued_with(broker, "interactive", "update_user", [user.id])
    assert "Spotify asks you to sign in again" not in web.get("/").text
