"""Spotify tokens are sealed at rest: not in the database file, readable with any key of
TOKEN_KEY, re-sealed with the newest by rotation, and a wrong key means signing in again."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from models import User, database, tokens
from models.db import is_postgres

ACCESS = "BQD-access-token-of-ana-7f3a9c"
REFRESH = "AQC-refresh-token-of-ana-41b2e8"
TOKEN = {"access_token": ACCESS, "refresh_token": REFRESH, "expires_at": 4_000_000_000}


@pytest.fixture
def keys(settings):
    """Set the process's token keys for one test; the session's keys come back after it."""
    yield tokens.configure
    tokens.configure(settings.token_keys)


def raw_column(user: User) -> str:
    return User.select(User.token_json).where(User.id == user.id).tuples().get()[0]


def test_the_database_holds_no_token_only_its_sealed_form(db):
    user = User.sign_in("ana", "Ana", TOKEN)
    User.get_by_id(user.id).save_token({**TOKEN, "access_token": ACCESS + "-2"})

    stored = raw_column(user)
    assert ACCESS not in stored and REFRESH not in stored
    assert User.get_by_id(user.id).load_token()["access_token"] == ACCESS + "-2"


def test_the_sqlite_file_s_bytes_hold_no_token(db):
    if is_postgres():
        pytest.skip("reads the SQLite file; the column test covers PostgreSQL")
    User.sign_in("ana", "Ana", TOKEN)
    path = Path(database.obj.database)

    # The write may still sit in the write-ahead log: read the database and its log.
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    written = b"".join(p.read_bytes() for p in files)

    assert path in files and len(written) > 0
    assert ACCESS.encode() not in written
    assert REFRESH.encode() not in written


def test_a_plaintext_token_from_before_sealing_is_read_and_sealed_on_its_next_save(db):
    user = User.sign_in("ana", "Ana", {})
    User.update(token_json=json.dumps(TOKEN)).where(User.id == user.id).execute()

    legacy = User.get_by_id(user.id)
    assert legacy.load_token() == TOKEN

    legacy.save_token(legacy.load_token())
    assert ACCESS not in raw_column(user)
    assert User.get_by_id(user.id).load_token() == TOKEN


def test_an_old_key_still_opens_tokens_until_they_are_resealed_with_the_new_one(db, keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys([old])
    ana = User.sign_in("ana", "Ana", TOKEN)
    ben = User.sign_in("ben", "Ben", {"access_token": "ben's"})
    cleo = User.sign_in("cleo", "Cleo", {})
    User.update(token_json=json.dumps({"access_token": "cleo's"})).where(
        User.id == cleo.id
    ).execute()

    # Given the new key in front of the old one: every token still opens.
    keys([new, old])
    assert User.get_by_id(ana.id).load_token() == TOKEN
    # (Without the old key they would not: this is what rotation must fix.)
    keys([new])
    assert User.get_by_id(ana.id).load_token() is None

    keys([new, old])
    assert User.reseal_tokens() == (3, 0)

    keys([new])
    assert User.get_by_id(ana.id).load_token() == TOKEN
    assert User.get_by_id(ben.id).load_token() == {"access_token": "ben's"}
    assert User.get_by_id(cleo.id).load_token() == {"access_token": "cleo's"}
    assert "cleo's" not in raw_column(cleo)


def test_a_token_no_key_opens_reads_as_none_and_says_why_in_the_log(db, keys, caplog):
    keys([Fernet.generate_key().decode()])
    user = User.sign_in("ana", "Ana", TOKEN)
    keys([Fernet.generate_key().decode()])

    with caplog.at_level(logging.WARNING, logger="models.user"):
        assert User.get_by_id(user.id).load_token() is None

    assert "no TOKEN_KEY opens the stored Spotify token" in caplog.text
    assert ACCESS not in caplog.text
    assert User.reseal_tokens() == (0, 1)


def test_without_keys_a_process_refuses_to_seal_rather_than_store_plaintext(keys):
    saved = tokens._keyring
    tokens._keyring = None
    try:
        with pytest.raises(tokens.TokenKeysMissing, match="configure"):
            tokens.seal(TOKEN)
    finally:
        tokens._keyring = saved
