"""People who signed in, their friend codes and tokens, and which artists they have."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, cast

from peewee import (
    EXCLUDED,
    SQL,
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    IntegrityError,
    TextField,
    fn,
)

from models import held_counts, tokens
from models.artist import Artist
from models.db import BaseModel, database, is_postgres, tuple_rows, utcnow
from models.fields import SOURCES

logger = logging.getLogger(__name__)

# Crockford's base32: no I, L, O or U, so a code read aloud or typed by hand survives.
FRIEND_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
FRIEND_CODE_LENGTH = 10  # 50 bits: unguessable with rate-limited attempts.
_FRIEND_CODE_RE = re.compile(rf"^[{FRIEND_CODE_ALPHABET}]{{{FRIEND_CODE_LENGTH}}}$")


def new_friend_code() -> str:
    """A fresh random friend code."""
    return "".join(secrets.choice(FRIEND_CODE_ALPHABET) for _ in range(FRIEND_CODE_LENGTH))


def normalize_friend_code(raw: str) -> str | None:
    """The canonical form of a typed friend code, or None when it cannot be one.

    Case, spaces and dashes are forgiven, and so are the letters people confuse with digits.
    """
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    code = re.sub(r"[\s\-]", "", raw).upper().translate(str.maketrans("OIL", "011"))
    return code if _FRIEND_CODE_RE.match(code) else None


class User(BaseModel):
    """A person who signed in with Spotify."""

    spotify_id = CharField(max_length=128, unique=True)
    account_id = CharField(max_length=128, null=True)
    display_name = TextField(null=True)
    friend_code = CharField(max_length=16, unique=True, default=new_friend_code)
    # The Spotify token dict, sealed with TOKEN_KEY (models/tokens.py); rows saved before
    # sealing hold plain JSON until their next save or `overlap tokens rotate-key`.
    # Never rendered, never logged (see __repr__).
    token_json = TextField(null=True)
    needs_reauth = BooleanField(default=False)
    last_login_at = DateTimeField(null=True)
    last_synced_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    # Every session cookie names the version it was made under; raising it signs out every
    # session of the person at once (sign-out, "sign out everywhere").
    session_version = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    # Their Spotify profile picture (the largest /me gives), if they have one.
    image_url = TextField(null=True)
    # How many different artists they have, and links per source: kept by every write of
    # their links (models/held_counts.py), so a comparison reads them instead of counting.
    artist_count = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    followed_count = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    saved_track_count = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    saved_album_count = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])

    def __repr__(self) -> str:
        return f"<User {self.id} {self.spotify_id}>"

    __str__ = __repr__

    @property
    def name(self) -> str:
        """What to call the person on a page."""
        return self.display_name or self.spotify_id

    def load_token(self) -> dict[str, Any] | None:
        """The stored Spotify token dict; None when there is none or no key opens it."""
        if not self.token_json:
            return None
        try:
            return tokens.open_sealed(self.token_json)
        except tokens.UnreadableToken:
            # Sealed with a key no longer in TOKEN_KEY, or damaged. For the person this is
            # a token Spotify would refuse: the callers' usual path (no token) marks them
            # to sign in again, which stores a fresh one, instead of an error page.
            logger.warning(
                "user %s: no TOKEN_KEY opens the stored Spotify token; they must sign in again",
                self.id,
            )
            return None

    def save_token(self, token: dict[str, Any]) -> None:
        """Store a new Spotify token dict (after sign-in or a refresh), sealed."""
        self.token_json = tokens.seal(token)
        self.needs_reauth = False
        User.update(token_json=self.token_json, needs_reauth=False).where(
            User.id == self.id
        ).execute()

    def end_sessions(self) -> int:
        """Sign out every session of the person (each names an older version now)."""
        User.update(session_version=User.session_version + 1).where(User.id == self.id).execute()
        self.session_version = User.get_by_id(self.id).session_version
        return self.session_version

    def mark_needs_reauth(self) -> None:
        """Record that Spotify refused our tokens: the person must sign in again."""
        self.needs_reauth = True
        User.update(needs_reauth=True).where(User.id == self.id).execute()

    def regenerate_friend_code(self) -> str:
        """Give the user a new friend code; the old one stops working."""
        for _ in range(5):
            code = new_friend_code()
            try:
                with database.atomic():
                    User.update(friend_code=code).where(User.id == self.id).execute()
            except IntegrityError:
                continue
            self.friend_code = code
            return code
        raise RuntimeError("could not find a free friend code")

    @classmethod
    def count_all(cls) -> int:
        """How many people have signed in, ever (and not deleted their account)."""
        return cls.select().count()

    @classmethod
    def by_friend_code(cls, raw: str) -> User | None:
        """The user whose friend code this is, or None (also for malformed codes)."""
        code = normalize_friend_code(raw)
        if code is None:
            return None
        return cls.get_or_none(cls.friend_code == code)

    @classmethod
    def sign_in(
        cls,
        spotify_id: str,
        display_name: str | None,
        token: dict[str, Any],
        account_id: str | None = None,
        image_url: str | None = None,
    ) -> User:
        """Create or update the user who just signed in, with their new token."""
        now = utcnow()
        fields = {
            "display_name": display_name,
            "image_url": image_url,
            "token_json": tokens.seal(token),
            "needs_reauth": False,
            "last_login_at": now,
        }
        if account_id:
            fields["account_id"] = account_id
        for _ in range(5):
            try:
                with database.atomic():
                    (
                        cls.insert(spotify_id=spotify_id, friend_code=new_friend_code(), **fields)
                        .on_conflict(
                            conflict_target=[cls.spotify_id],
                            update={getattr(cls, k): getattr(EXCLUDED, k) for k in fields},
                        )
                        .execute()
                    )
                break
            except IntegrityError:
                # Only a friend-code collision lands here; draw another.
                continue
        return cls.get(cls.spotify_id == spotify_id)

    @classmethod
    def reseal_tokens(cls, batch: int = 500) -> tuple[int, int]:
        """Seal every stored token with the newest key: (how many resealed, unreadable).

        Legacy plaintext rows are sealed too. A row whose token changed while we worked
        (a sign-in or a refresh) keeps the newer one, which is already sealed.
        """
        resealed = unreadable = 0
        last_id = 0
        while True:
            rows = list(
                cls.select(cls.id, cls.token_json)
                .where(cls.token_json.is_null(False), cls.id > last_id)
                .order_by(cls.id)
                .limit(batch)
            )
            if not rows:
                return resealed, unreadable
            with database.atomic():
                for row in rows:
                    try:
                        # The query asks only for rows with a token.
                        sealed = tokens.reseal(cast(str, row.token_json))
                    except tokens.UnreadableToken:
                        unreadable += 1
                        continue
                    resealed += (
                        cls.update(token_json=sealed)
                        .where(cls.id == row.id, cls.token_json == row.token_json)
                        .execute()
                    )
            last_id = rows[-1].id

    def artist_total(self) -> int:
        """How many different artists the user has, from any source."""
        total: int = (
            UserArtist.select(fn.COUNT(fn.DISTINCT(UserArtist.artist)))
            .where(UserArtist.user == self.id)
            .scalar()
        )
        return total

    def artist_counts(self) -> dict[str, int]:
        """How many artists the user has from each source."""
        counts = dict.fromkeys(SOURCES, 0)
        query = (
            UserArtist.select(UserArtist.source, fn.COUNT(UserArtist.id).alias("n"))
            .where(UserArtist.user == self.id)
            .group_by(UserArtist.source)
        )
        for source, n in tuple_rows(query):
            counts[source] = n
        return counts


class UserArtist(BaseModel):
    """That a user has an artist from one source: followed, a saved track or a saved album."""

    user = ForeignKeyField(User, on_delete="CASCADE", backref="artist_links")
    artist = ForeignKeyField(Artist, on_delete="CASCADE", backref="user_links")
    source = CharField(max_length=16)
    # When a sync last saw this link; a complete sync removes links it did not see.
    seen_at = DateTimeField(default=utcnow)
    # When the person saved it: the earliest Spotify ``added_at`` among their saved tracks
    # (or albums) with this artist, as the last sync read them; None for followed artists.
    added_at = DateTimeField(null=True)

    class Meta:
        table_name = "user_artist"
        indexes = (
            (("user", "artist", "source"), True),
            (("artist",), False),
        )

    @classmethod
    def link_many(
        cls,
        user_id: int,
        artist_ids: Iterable[int],
        source: str,
        added: Mapping[int, dt.datetime] | None = None,
        sync_started: dt.datetime | None = None,
    ) -> int:
        """Record that the user has these artists from ``source``; returns how many rows.

        ``added`` gives the date each artist was saved (the earliest on this page). A link
        keeps the earliest date the current sync (the one that began at ``sync_started``)
        has read for it, so that a resync replaces a date whose track was removed since.
        """
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        now, added = utcnow(), added or {}
        # Sorted for the same lock order in every transaction (no deadlocks).
        ids = sorted(set(artist_ids))
        update = {cls.seen_at: EXCLUDED.seen_at, cls.added_at: cls._kept_date(sync_started)}
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            rows = [
                {"user": user_id, "artist": a, "source": source, "seen_at": now,
                 "added_at": added.get(a)}
                for a in batch
            ]  # fmt: skip
            upsert = cls.insert_many(rows).on_conflict(
                conflict_target=[cls.user, cls.artist, cls.source], update=update
            )
            if is_postgres() and not database.in_transaction():
                # The same transaction as below, sent as one round trip (held_counts.py).
                held_counts.link_at_once(user_id, batch, source, upsert.sql())
                continue
            with database.atomic():
                new_links = held_counts.new_links(user_id, batch, source)
                upsert.execute()
                # The new links' listener rows, in the same transaction (held_counts.py).
                held_counts.hold(user_id, batch)
                held_counts.add_to_totals(user_id, source, *new_links)
        return len(ids)

    @classmethod
    def _kept_date(cls, sync_started: dt.datetime | None) -> Case:
        """The date an existing link keeps when a page names it again: the new one when
        this sync has not seen the link yet, else the earlier of the two."""
        # The right-hand sides read the row as it was (seen_at before this update).
        take_new = cls.added_at.is_null() | (EXCLUDED.added_at < cls.added_at)
        if sync_started is not None:
            take_new = take_new | (cls.seen_at < sync_started)
        return Case(None, [(take_new, EXCLUDED.added_at)], cls.added_at)

    @classmethod
    def sources_of(cls, user_ids: Iterable[int], artist_id: int) -> dict[int, list[str]]:
        """Where each of these people has the artist from, in the fixed order of SOURCES
        (a person without it is left out)."""
        found: dict[int, set[str]] = {}
        query = cls.select(cls.user, cls.source).where(
            (cls.artist == artist_id) & cls.user.in_(list(user_ids))
        )
        for user_id, source in tuple_rows(query):
            found.setdefault(user_id, set()).add(source)
        return {uid: [s for s in SOURCES if s in got] for uid, got in found.items()}


class HeldCount(BaseModel):
    """A listener count of one month of an artist that one person has."""

    user = ForeignKeyField(User, on_delete="CASCADE", index=False)
    artist = ForeignKeyField(Artist, on_delete="CASCADE")
    month = CharField(max_length=7)
    monthly_listeners = BigIntegerField(null=True)

    class Meta:
        table_name = "held_count"
        primary_key = CompositeKey("user", "artist", "month")
        indexes = ((("user", "month", "monthly_listeners", "artist"), False),)
