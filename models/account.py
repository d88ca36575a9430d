"""Deleting a person's account: their rows and their jobs.

Their jobs are cancelled first: a waiting one is skipped when a worker takes its message,
a running one stops at its next page. Only finished rows are deleted; the cancelled ones
name just an id that is never given to anyone else (the ``user`` table's ids are
AUTOINCREMENT on SQLite and a sequence on PostgreSQL) and go with the job-run retention.

What Redis holds about the person is the web's to forget (``web.state.personal_keys``).
"""

from __future__ import annotations

from models.compared import ComparedWith
from models.db import database
from models.group import Group
from models.job_run import ACTIVE, JobRun, user_subject
from models.user import User


def delete_account(user: User) -> None:
    """Cancel ``user``'s jobs and delete their rows, in both people's lists too."""
    subject = user_subject(user.id)
    for job in JobRun.select().where((JobRun.subject == subject) & JobRun.status.in_(ACTIVE)):
        job.request_cancel()
    with database.atomic():
        JobRun.delete().where(
            (JobRun.subject == subject) & JobRun.status.not_in(ACTIVE) & ~JobRun.cancel_requested
        ).execute()
        # Their rows in both people's lists go too (not left to the foreign keys' cascade,
        # which SQLite applies only with its pragma on).
        ComparedWith.forget(user.id)
        # Their groups go on without them.
        Group.forget(user.id)
        User.delete().where(User.id == user.id).execute()
