"""The operators' audit trail: who did what to the jobs and queues, and when.

Every action of the dashboard and of the operator's CLI (pause, resume, cancel, retry,
clean, requeue, delete, run now) adds one row, written by the same function whatever the
caller. The rows are kept as long as failed job runs are; the hourly cleanup removes the
older ones (``AuditEntry.remove_older_than``).
"""

from __future__ import annotations

import datetime as dt

from peewee import CharField, DateTimeField, IntegerField

from models.db import BaseModel, utcnow


class AuditEntry(BaseModel):
    """One operator action: who, when, what, on what, and how many things it touched."""

    at = DateTimeField(default=utcnow, index=True)
    who = CharField(max_length=80)  # "admin:<spotify id>" or "cli:<os user>"
    action = CharField(max_length=32)  # "pause", "requeue", "run-now", ...
    target = CharField(max_length=160)  # "queue:bulk", "job:42", "dead:artists:<id>", ...
    count = IntegerField(default=1)

    class Meta:
        table_name = "audit_log"

    @classmethod
    def record(cls, who: str, action: str, target: str, count: int = 1) -> AuditEntry:
        """Write down one action (text cut to the columns' sizes)."""
        return cls.create(who=who[:80], action=action[:32], target=target[:160], count=count)

    @classmethod
    def latest(cls, limit: int = 20, before_id: int | None = None) -> list[AuditEntry]:
        """The newest entries first, ``limit`` of them, older than ``before_id`` if given."""
        query = cls.select().order_by(cls.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(cls.id < before_id)
        return list(query)

    @classmethod
    def remove_older_than(cls, cutoff: dt.datetime) -> int:
        """Delete the entries written before ``cutoff``; how many went."""
        deleted: int = cls.delete().where(cls.at < cutoff).execute()
        return deleted
