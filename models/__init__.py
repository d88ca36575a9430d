"""The database: connection, tables and the queries on them.

Import the tables from here (``from models import User, Artist``); ``models.db`` holds the
connection, ``models.migrations`` creates and upgrades the schema.
"""

from models.artist import Artist, ArtistListeners, current_month
from models.audit import AuditEntry
from models.compared import ComparedWith
from models.db import BaseModel, database, init_database
from models.group import Group, GroupMember
from models.job_run import JobRun
from models.picture import Picture
from models.user import HeldCount, User, UserArtist

ALL_TABLES: list[type[BaseModel]] = [
    User,
    Artist,
    ArtistListeners,
    UserArtist,
    JobRun,
    AuditEntry,
    ComparedWith,
    HeldCount,
    Group,
    GroupMember,
    Picture,
]

__all__ = [
    "ALL_TABLES",
    "Artist",
    "ArtistListeners",
    "AuditEntry",
    "BaseModel",
    "ComparedWith",
    "HeldCount",
    "Group",
    "GroupMember",
    "JobRun",
    "Picture",
    "User",
    "UserArtist",
    "current_month",
    "database",
    "init_database",
]
