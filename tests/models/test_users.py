"""Users: sign-in upserts, friend codes, tokens, and the uniqueness rules."""

from __future__ import annotations

import pytest
from peewee import IntegrityError

from models import User, database
from models.user import FRIEND_CODE_LENGTH, new_friend_code, normalize_friend_code


def test_signing_in_twice_updates_the_same_user(db):
    first = User.sign_in("ana", "Ana", {"access_token": "one"})
    again = User.sign_in("ana", "Ana B.", {"access_token": "two"})

    assert again.id == first.id
    assert again.display_name == "Ana B."
    assert again.load_token() == {"access_token": "two"}
    assert again.friend_code == first.friend_code
    assert again.last_login_at >= first.last_login_at
    assert User.select().count() == 1


def test_a_spotify_id_can_belong_to_one_user_only(db):
    User.create(spotify_id="ana")
    with pytest.raises(IntegrityError), database.atomic():
        User.create(spotify_id="ana")


def test_a_friend_code_can_belong_to_one_user_only(db):
    User.create(spotify_id="ana", friend_code="ABCDEFGHJK")
    with pytest.raises(IntegrityError), database.atomic():
        User.create(spotify_id="ben", friend_code="ABCDEFGHJK")


def test_friend_codes_are_long_random_and_distinct():
    codes = {new_friend_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == FRIEND_CODE_LENGTH for c in codes)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcde-fghjk", "ABCDEFGHJK"),
        ("  ABCDE FGHJK ", "ABCDEFGHJK"),
        ("0O1IL23456", "0011123456"),
        ("", None),
        ("ABC", None),
        ("ABCDEFGHJKM", None),
        ("ABCDE<FGHJ", None),
        ("' OR 1=1 --", None),
        ("ÄBCDEFGHJK", None),
        ("A" * 10_000, None),
    ],
)
def test_typed_friend_codes_are_normalized_or_refused(typed, expected):
    assert normalize_friend_code(typed) == expected


def test_a_friend_code_finds_its_user_whatever_the_case(db):
    user = User.sign_in("ana", "Ana", {})
    assert User.by_friend_code(user.friend_code.lower()).id == user.id
    assert User.by_friend_code("not a code") is None


def test_regenerating_a_friend_code_retires_the_old_one(db):
    user = User.sign_in("ana", "Ana", {})
    old = user.friend_code

    new = user.regenerate_friend_code()

    assert new != old
    assert User.by_friend_code(old) is None
    assert User.by_friend_code(new).id == user.id


def test_tokens_never_appear_in_the_users_repr(db):
    user = User.sign_in("ana", "Ana", {"access_token": "secret-token-value"})
    assert "secret-token-value" not in repr(user)
    assert "secret-token-value" not in str(user)


def test_a_refused_refresh_marks_the_user_and_a_new_sign_in_clears_it(db):
    user = User.sign_in("ana", "Ana", {"access_token": "t"})
    user.mark_needs_reauth()
    assert User.get_by_id(user.id).needs_reauth

    User.sign_in("ana", "Ana", {"access_token": "fresh"})
    assert not User.get_by_id(user.id).needs_reauth


def test_count_all_counts_every_person(db):
    assert User.count_all() == 0
    User.create(spotify_id="ana")
    User.create(spotify_id="ben")

    assert User.count_all() == 2
