"""``overlap db upgrade`` and ``overlap db status``: what the migration scripts did and
what is left, in words (the database is already initialised)."""

from __future__ import annotations

import sys

from playhouse.migrations import MigrationError

from models import migrations


def upgrade() -> int:
    """Apply the pending migration scripts and say which ran."""
    try:
        done = migrations.upgrade()
    except MigrationError as exc:
        print(f"overlap: the schema was left as it was: {exc}", file=sys.stderr)
        return 2
    if done.carried_over:
        print(
            f"recorded {', '.join(done.carried_over)} as applied "
            f"(the old schema_version table said version {done.before})"
        )
    for name in done.applied:
        print(f"applied {name}")
    if done.before is None:
        print(f"created the schema (version {done.after})")
    elif not done.applied:
        print(f"the schema is up to date (version {done.after})")
    else:
        print(f"upgraded the schema from version {done.before} to {done.after}")
    return 0


def status() -> int:
    """List the scripts, applied or pending; 1 when any is pending, so a deploy can wait."""
    scripts = migrations.status()
    width = max(len(m.name) for m in scripts)
    for m in scripts:
        if m.applied is None:
            mark, note = " ", "pending"
        elif m.path is None:
            mark, note = "?", "applied by a newer release: no such script here"
        else:
            mark, note = "x", f"applied {m.applied:%Y-%m-%d %H:%M:%S}"
        print(f"[{mark}] {m.name:<{width}}  {note}")
    legacy = migrations.legacy_version()
    if legacy is not None:
        print(
            f"the old schema_version table says version {legacy}: `overlap db upgrade` "
            f"records the scripts up to {legacy} as applied and runs the rest"
        )
    return 1 if any(m.applied is None for m in scripts) else 0
