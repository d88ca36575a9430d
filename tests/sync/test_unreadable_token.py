"""A token no TOKEN_KEY opens (the key was changed without keeping the old one) asks the
person to sign in again; it never breaks a sync with a crash or a page with a 500."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from models import User, tokens
from models.db import utcnow
from spotify.errors import NeedsReauth
from sync.context import SyncContext
from sync.users import sync_user


@pytest.fixture
def wrong_key(settings):
    """Swap the process's token key for one that sealed nothing; the right one after."""
    yield lambda: tokens.configure([Fernet.generate_key().decode()])
    tokens.configure(settings.token_keys)


def test_an_unreadable_token_marks_the_person_to_sign_in_again(
    web, signed_in_web, app_settings, wrong_key
):
    signed_in_web("cleo")
    user = User.get(User.spotify_id == "cleo")
    User.update(last_synced_at=utcnow()).where(User.id == user.id).execute()
    wrong_key()

    with pytest.raises(NeedsReauth):
        sync_user(SyncContext(settings=app_settings, send_artists=len), User.get_by_id(user.id))

    assert User.get_by_id(user.id).needs_reauth
    page = web.get("/")
    assert page.status_int == 200
    assert "Spotify asks you to sign in again" in page.text
