"""What no log line may hold is masked by the one log formatter's masker, wherever it
appears in the line: OAuth codes and tokens, friend codes in paths and queries,
Authorization credentials, the session cookie and the app's own secrets."""

from __future__ import annotations

import pytest

from config.log_mask import MASK, Masker, escape_controls

mask = Masker(known_secrets=("client-secret-value-123", "short"))


@pytest.mark.parametrize(
    ("line", "hidden", "kept"),
    [
        ('"GET /callback?code=AQBx-9_z.Q&state=s1 HTTP/1.1" 303', "AQBx-9_z.Q", "state=s1"),
        ('"GET /compare/PQJ6-745B HTTP/1.1" 200', "PQJ6-745B", "/compare/***"),
        ('"GET /api/compare/PQJ6745B?limit=5 HTTP/1.1" 200', "PQJ6745B", "?limit=5"),
        ("GET /artists/x?with=PQJ6745B&sort=name", "PQJ6745B", "sort=name"),
        ("POST /compare friend_code=PQJ6745B", "PQJ6745B", "friend_code=***"),
        ("token answer access_token=BQDtok.en-1&expires_in=3600", "BQDtok.en-1", "expires_in"),
        ("{'refresh_token': 'AQCrefresh', 'scope': 'x'}", "AQCrefresh", "'scope': 'x'"),
        ('{"access_token": "BQDtoken"}', "BQDtoken", '"access_token": "***"'),
        ("headers {'Authorization': 'Bearer BQD.abc-123'}", "BQD.abc-123", "Bearer ***"),
        ("Authorization: Basic b3ZlcmxhcDpzZWNyZXQ=", "b3ZlcmxhcDpzZWNyZXQ=", "Basic ***"),
        ("Cookie: overlap_session=eyJ1aWQiOjF9.sig; theme=dark", "eyJ1aWQiOjF9.sig", "theme"),
        ("client_secret=client-secret-value-123&grant_type=x", "client-secret-value", "grant"),
        ("the secret is client-secret-value-123 here", "client-secret-value-123", "here"),
    ],
)
def test_a_secret_in_a_line_is_masked_and_the_rest_is_kept(line, hidden, kept):
    masked = mask(line)

    assert hidden not in masked and MASK in masked
    assert kept in masked


def test_a_line_without_secrets_is_unchanged():
    line = '127.0.0.1 "GET /with/12?sort=name HTTP/1.1" 200 512 3ms "-" "curl/8"'
    assert mask(line) == line


def test_a_known_secret_too_short_to_mask_by_value_is_left_alone():
    # Masking "short" everywhere would garble lines and tell a reader what it is.
    assert mask("a short line") == "a short line"


def test_control_characters_are_escaped_onto_one_line():
    assert escape_controls("a\r\nFAKE\x1b[31m\u2028") == "a\\r\\nFAKE\\x1b[31m\\u2028"
    assert escape_controls("plain é") == "plain é"
