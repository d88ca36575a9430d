"""Each person's artists' listener counts, kept beside them: what makes a comparison fast.

``held_count`` (the ``HeldCount`` table, declared in models/user.py beside the tables it
mirrors) has a row for every (person, artist they have, month the artist has a
listener row for), with that month's count (None when the page had none). It mirrors
``user_artist`` joined with ``artist_listeners``, kept up to date where those are written:
``UserArtist.link_many`` adds the rows of newly held artists, ``ArtistListeners.record``
writes the count into every holder's row, and a complete sync (``release_unheld``) drops
the artists a person no longer has; deleting a person or an artist cascades. With its
(user, month, monthly_listeners, artist) index, a person's counts of a month are one index
range in order, so the comparison reads a median, a histogram or the most listened of
its artists without visiting each of them (models/comparison.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from models.db import database, is_postgres
from models.fields import SOURCES

_HOLD_SQL = (
    'INSERT INTO "held_count" ("user_id", "artist_id", "month", "monthly_listeners") '
    'SELECT {p}, "l"."artist_id", "l"."month", "l"."monthly_listeners" '
    'FROM "artist_listeners" AS l WHERE "l"."artist_id" IN ({ids}) '
    'ON CONFLICT ("user_id", "artist_id", "month") DO NOTHING'
)
_SPREAD_SQL = (
    'INSERT INTO "held_count" ("user_id", "artist_id", "month", "monthly_listeners") '
    'SELECT DISTINCT "ua"."user_id", "ua"."artist_id", {p}, CAST({p} AS BIGINT) '
    'FROM "user_artist" AS ua WHERE "ua"."artist_id" = {p} '
    'ON CONFLICT ("user_id", "artist_id", "month") '
    'DO UPDATE SET "monthly_listeners" = EXCLUDED."monthly_listeners"'
)
_RELEASE_SQL = (
    'DELETE FROM "held_count" WHERE "user_id" = {p} AND NOT EXISTS ('
    'SELECT 1 FROM "user_artist" AS ua WHERE "ua"."user_id" = "held_count"."user_id" '
    'AND "ua"."artist_id" = "held_count"."artist_id")'
)
_FILL_SQL = (
    'INSERT INTO "held_count" ("user_id", "artist_id", "month", "monthly_listeners") '
    'SELECT DISTINCT "ua"."user_id", "l"."artist_id", "l"."month", "l"."monthly_listeners" '
    'FROM "user_artist" AS ua JOIN "artist_listeners" AS l ON "l"."artist_id" = "ua"."artist_id" '
    'WHERE "ua"."user_id" = {p} ON CONFLICT ("user_id", "artist_id", "month") DO NOTHING'
)


_EXISTING_SQL = (
    'SELECT "artist_id", "source" FROM "user_artist" WHERE "user_id" = {p} '
    'AND "artist_id" IN ({ids})'
)
_RECOUNT_SQL = (
    'UPDATE "user" SET "artist_count" = (SELECT COUNT(*) FROM (SELECT DISTINCT "artist_id" '
    'FROM "user_artist" WHERE "user_id" = {p}) AS d), '
    + ", ".join(
        f'"{s}_count" = (SELECT COUNT(*) FROM "user_artist" WHERE "user_id" = {{p}} '
        f"AND \"source\" = '{s}')"
        for s in SOURCES
    )
    + ' WHERE "id" = {p}'
)


def lock_totals(user_id: int) -> None:
    """Take the person's row for a write of their links (PostgreSQL; SQLite has one writer)."""
    if is_postgres():
        # Every write of a person's links takes their row first, so two never interleave
        # (the totals below count what the other committed) and never wait on each other
        # in a cycle; FOR NO KEY UPDATE leaves rows that merely point at the user alone.
        database.execute_sql('SELECT 1 FROM "user" WHERE "id" = %s FOR NO KEY UPDATE', (user_id,))


def new_links(user_id: int, artist_ids: Sequence[int], source: str) -> tuple[int, int]:
    """Before linking these artists from ``source`` (in the same transaction): how many
    artists the person will have anew, and how many links of that source are new."""
    lock_totals(user_id)
    if not artist_ids:
        return 0, 0
    marks = ", ".join([database.param] * len(artist_ids))
    sql = _EXISTING_SQL.format(p=database.param, ids=marks)
    held = database.execute_sql(sql, (user_id, *artist_ids)).fetchall()
    had_artist = {artist for artist, _source in held}
    had_link = {artist for artist, got in held if got == source}
    return len(set(artist_ids) - had_artist), len(set(artist_ids) - had_link)


# PostgreSQL: the person's totals grown by the artists and links of ``source`` that the
# batch adds, counted before the links are written (in the same transaction, after the
# person's row is taken, so each statement sees what an earlier writer committed).
_GROW_TOTALS_SQL = (
    'UPDATE "user" SET "artist_count" = "artist_count" + (SELECT COUNT(*) FROM '
    'unnest(%s::integer[]) AS t(a) WHERE NOT EXISTS (SELECT 1 FROM "user_artist" AS ua '
    'WHERE ua."user_id" = %s AND ua."artist_id" = t.a)), "{source}_count" = "{source}_count" '
    "+ (SELECT COUNT(*) FROM unnest(%s::integer[]) AS t(a) WHERE NOT EXISTS (SELECT 1 FROM "
    '"user_artist" AS ua WHERE ua."user_id" = %s AND ua."artist_id" = t.a '
    'AND ua."source" = %s)) WHERE "id" = %s'
)


def link_at_once(
    user_id: int, artist_ids: Sequence[int], source: str, upsert: tuple[str, list[object]]
) -> None:
    """PostgreSQL: write one batch of links (``upsert``, the links' INSERT ... ON CONFLICT
    as SQL and parameters) with the person's totals and held counts, as one transaction
    sent in one round trip: take the person's row, grow their totals, upsert the links,
    hold the new links' counts, commit. Across hosts each round trip costs the link's delay
    twice; as five statements it cost five (and a BEGIN and a COMMIT)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    ids = list(artist_ids)
    marks = ", ".join(["%s"] * len(ids))
    statements: list[tuple[str, Sequence[object]]] = [
        ("BEGIN", ()),
        ('SELECT 1 FROM "user" WHERE "id" = %s FOR NO KEY UPDATE', (user_id,)),
        (_GROW_TOTALS_SQL.format(source=source), (ids, user_id, ids, user_id, source, user_id)),
        upsert,
        (_HOLD_SQL.format(p="%s", ids=marks), (user_id, *ids)),
        ("COMMIT", ()),
    ]
    _at_once([statements])


_Statements = Sequence[tuple[str, Sequence[object]]]


def _at_once(strings: Sequence[_Statements]) -> Any:
    """Send each list of statements as one string (psycopg2 sends a string of several
    statements as one simple query: one round trip); the cursor of the last, whose last
    statement's rows it holds."""
    try:
        for statements in strings:
            sql = ";\n".join(statement for statement, _ in statements)
            cursor = database.execute_sql(sql, [p for _, params in statements for p in params])
    except BaseException:
        _roll_back()
        raise
    return cursor


def _roll_back() -> None:
    """End the transaction a string of statements left open: a statement that failed
    aborted it, or an interrupt (Dramatiq's time limit or shutdown, BaseExceptions raised
    in the worker's thread) came between its BEGIN and its COMMIT. So the connection goes
    back to the pool clean, and nothing written after on it joins the half-done work (a
    dead connection is dropped by the pool)."""
    with contextlib.suppress(Exception):
        database.execute_sql("ROLLBACK")


def complete_at_once(
    user_id: int, removal: tuple[str, Sequence[object]], stamp: tuple[str, Sequence[object]]
) -> int:
    """PostgreSQL: end a sync (``removal``, the DELETE of the links it did not see, and
    ``stamp``, the person's UPDATE, as SQL and parameters) in two round trips: take the
    person's row and remove the links, counting them; then drop the held counts of artists
    no longer held, count the totals afresh, stamp the person, commit. As statements of
    their own they were ten round trips. How many links went."""
    lock = 'SELECT 1 FROM "user" WHERE "id" = %s FOR NO KEY UPDATE'
    # The transaction spans two round trips: whatever ends it between them rolls it back.
    try:
        removed = _at_once([
            [("BEGIN", ()), (lock, (user_id,)),
             (f"WITH gone AS ({removal[0]} RETURNING 1) SELECT COUNT(*) FROM gone", removal[1])],
        ]).fetchone()[0]  # fmt: skip
        _at_once([[
            (_RELEASE_SQL.format(p="%s"), (user_id,)),
            (_RECOUNT_SQL.format(p="%s"), (user_id,) * 5),
            stamp,
            ("COMMIT", ()),
        ]])  # fmt: skip
    except BaseException:
        _roll_back()
        raise
    return int(removed)


def add_to_totals(user_id: int, source: str, artists: int, links: int) -> None:
    """Count new artists and links of ``source`` into the person's totals."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if artists or links:
        sql = (
            f'UPDATE "user" SET "artist_count" = "artist_count" + {{p}}, '
            f'"{source}_count" = "{source}_count" + {{p}} WHERE "id" = {{p}}'
        )
        database.execute_sql(sql.format(p=database.param), (artists, links, user_id))


def recount(user_id: int) -> None:
    """Count the person's totals afresh (after links were removed, or written around the
    model methods)."""
    with database.atomic():
        lock_totals(user_id)
        database.execute_sql(_RECOUNT_SQL.format(p=database.param), (user_id,) * 5)


def hold(user_id: int, artist_ids: Sequence[int]) -> None:
    """The rows of artists the person has just been linked to (inside the link's
    transaction); rows they had already are left as they are."""
    if artist_ids:
        marks = ", ".join([database.param] * len(artist_ids))
        sql = _HOLD_SQL.format(p=database.param, ids=marks)
        database.execute_sql(sql, (user_id, *artist_ids))


def spread(artist_id: int, month: str, monthly_listeners: int | None) -> None:
    """Write an artist's count of the month into every holder's row (inside the
    transaction that recorded it)."""
    if is_postgres():
        # A link being made to this artist holds its row FOR KEY SHARE (the foreign key's
        # check) until it commits; waiting for it here means the holders read next include
        # that person, and a link made after this lock reads this count in ``hold``. Without
        # it, each of two concurrent transactions could miss the other's row. SQLite runs
        # one writer at a time, so it cannot happen there.
        database.execute_sql('SELECT 1 FROM "artist" WHERE "id" = %s FOR UPDATE', (artist_id,))
    sql = _SPREAD_SQL.format(p=database.param)
    database.execute_sql(sql, (month, monthly_listeners, artist_id))


def release_unheld(user_id: int) -> None:
    """Drop the rows of artists the person no longer has, and count their totals afresh
    (after links were removed)."""
    database.execute_sql(_RELEASE_SQL.format(p=database.param), (user_id,))
    recount(user_id)


def fill(user_id: int) -> None:
    """Every row of the person from the links and counts already there (for rows written
    around the model methods, as a bulk load does)."""
    with database.atomic():
        database.execute_sql(_FILL_SQL.format(p=database.param), (user_id,))
    recount(user_id)
