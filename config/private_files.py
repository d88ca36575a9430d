"""Files only the app's own user may read: ``var/`` at 0700 and what it holds at 0600.

``var/`` holds the session key, the token key, the SQLite database (with everyone's sealed
Spotify tokens) and the embedded Redis's files. Made with the default umask they are 0644
in a 0755 folder, readable by every account on the machine; everything that creates one
of them goes through here instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# For child processes (redis-server) that create files of their own in var/.
UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed, and make it 0700 if it is not."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        # A var/ made before this rule (or by hand) is tightened on the next start.
        os.chmod(path, DIR_MODE)
    return path


def tighten(path: Path) -> None:
    """Make an existing file 0600 (files made before this rule were 0644)."""
    if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
        os.chmod(path, FILE_MODE)


def create_private(path: Path, tighten_folder: bool = True) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then only tighten it).

    Its folder is made 0700 when missing; an existing one is tightened only when
    ``tighten_folder`` says the folder is the app's own (var/), not one it may share (/tmp).
    """
    if tighten_folder:
        private_dir(path.parent)
    else:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path)


def write_private(path: Path, text: str, keep_existing: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600, all at once.

    Written to a temporary file then moved into place, so that two processes starting
    together never read half a key; the temporary file is 0600 from its first byte. With
    ``keep_existing`` a file already there wins (a link fails where a rename would
    replace), so processes that start together all keep the first one's key.
    """
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    if not keep_existing:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
