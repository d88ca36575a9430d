"""overlap tokens rotate-key seals every stored token with the newest TOKEN_KEY."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from cli.main import main
from models import AuditEntry, User, tokens


@pytest.fixture
def token_env(monkeypatch, base_env, settings):
    """Run the command on the test database with TOKEN_KEY set to the keys given."""
    for name, value in base_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SPOTIFY_CLIENT_ID", raising=False)

    def use(keys: list[str]) -> None:
        monkeypatch.setenv("TOKEN_KEY", ",".join(keys))
        tokens.configure(keys)

    yield use
    tokens.configure(settings.token_keys)


def test_rotate_key_reseals_every_row_even_plaintext_ones_and_says_how_many(db, token_env, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token_env([old])
    ana = User.sign_in("ana", "Ana", {"access_token": "ana's"})
    ben = User.sign_in("ben", "Ben", {})
    User.update(token_json=json.dumps({"access_token": "ben's"})).where(User.id == ben.id).execute()
    User.create(spotify_id="never-signed-in")  # no token: nothing to do

    token_env([new, old])
    assert main(["tokens", "rotate-key"]) == 0
    assert "re-encrypted 2 tokens with the newest TOKEN_KEY" in capsys.readouterr().out
    [entry] = AuditEntry.select()
    assert (entry.action, entry.target, entry.count) == ("rotate-key", "tokens", 2)
    assert entry.who.startswith("cli")

    stored = [row.token_json for row in User.select().where(User.token_json.is_null(False))]
    assert len(stored) == 2 and not any(tokens.is_legacy(text) for text in stored)

    # Then the old key can go: every row still loads.
    token_env([new])
    assert User.get_by_id(ana.id).load_token() == {"access_token": "ana's"}
    assert User.get_by_id(ben.id).load_token() == {"access_token": "ben's"}


def test_rotate_key_names_the_rows_no_key_opens_and_fails(db, token_env, capsys):
    token_env([Fernet.generate_key().decode()])
    User.sign_in("ana", "Ana", {"access_token": "ana's"})
    token_env([Fernet.generate_key().decode()])

    assert main(["tokens", "rotate-key"]) == 1

    out, err = capsys.readouterr()
    assert "re-encrypted 0 tokens" in out
    assert "1 token could not be opened with any TOKEN_KEY" in err


def test_a_bad_token_key_is_one_line_not_a_traceback(db, token_env, monkeypatch, capsys):
    monkeypatch.setenv("TOKEN_KEY", "not-a-key")

    assert main(["tokens", "rotate-key"]) == 2

    assert "TOKEN_KEY's key number 1 is not a Fernet key" in capsys.readouterr().err
