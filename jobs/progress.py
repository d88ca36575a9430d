"""How far a job is, told by the core functions and kept where people can see it.

The core functions (``sync_user``, the monthly refresh) call ``progress.start(total,
message)`` once and ``progress.advance(n, message)`` as they go, and may stage a
checkpoint with ``progress.save(...)``. What happens then depends on who runs them:

- ``JobProgress`` (a worker, and the CLI): writes the job's row, at most every tenth of
  the total or every two seconds, whichever comes first, plus a last write at ``flush``.
  Each write carries the staged checkpoint and an ETA from the rate seen so far. It also
  answers ``cancelled()`` from the row, read at most once a second.
- ``TerminalProgress`` (the CLI): draws a tqdm bar, and passes every call on to the job's
  ``JobProgress`` so the dashboard sees a CLI run too.
- ``NoProgress``: does nothing (tests, and functions run without a job).

A crash loses at most two seconds of checkpoints; the pages after it are read again,
which is harmless because every write of a page is an upsert.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from models import JobRun
from models.db import utcnow

WRITE_EVERY_SECONDS = 2.0
WRITE_EVERY_FRACTION = 0.1
CANCEL_CHECK_SECONDS = 1.0


class Progress(Protocol):
    """What a core function may tell about its progress."""

    def start(self, total: int | None, message: str | None = None) -> None:
        """The work has ``total`` steps (None: not known yet)."""

    def advance(self, n: int = 1, message: str | None = None) -> None:
        """``n`` more steps are done."""

    def save(self, checkpoint: dict[str, Any], **fields: Any) -> None:
        """Stage where the work stands, written with the next progress write."""

    def flush(self) -> None:
        """Write what is staged now (before stopping, and at the end)."""

    def cancelled(self) -> bool:
        """Whether someone asked for the job to stop."""


class NoProgress:
    """Progress that goes nowhere."""

    def start(self, total: int | None, message: str | None = None) -> None:
        """Nothing to do."""

    def advance(self, n: int = 1, message: str | None = None) -> None:
        """Nothing to do."""

    def save(self, checkpoint: dict[str, Any], **fields: Any) -> None:
        """Nothing to do."""

    def flush(self) -> None:
        """Nothing to do."""

    def cancelled(self) -> bool:
        """Never cancelled."""
        return False


class JobProgress:
    """Progress kept on a job's row, with rate-limited writes; safe across threads."""

    def __init__(self, job: JobRun, clock: Callable[[], float] = time.monotonic) -> None:
        self.job, self.clock = job, clock
        self.lock = threading.Lock()
        self.current = job.progress_current or 0
        self.total: int | None = job.progress_total
        self.message: str | None = job.progress_message
        self.staged: dict[str, Any] = {}
        self.dirty = False
        self.started_at, self.started_from = clock(), self.current
        self.written_at, self.written_current = clock(), self.current
        self.cancel_checked_at: float | None = None
        self.seen_cancel = bool(job.cancel_requested)

    def start(self, total: int | None, message: str | None = None) -> None:
        """Set the total (a resumed job keeps its count); written at once."""
        with self.lock:
            self.total = total
            self.message = message or self.message
            self.started_at, self.started_from = self.clock(), self.current
            self._write()

    def advance(self, n: int = 1, message: str | None = None) -> None:
        """Count ``n`` steps; write when a tenth of the total or two seconds have passed."""
        with self.lock:
            self.current += n
            self.message = message or self.message
            self.dirty = True
            if self._due():
                self._write()

    def save(self, checkpoint: dict[str, Any], **fields: Any) -> None:
        """Stage a checkpoint (and more fields) for the next write."""
        with self.lock:
            self.staged.update(fields, checkpoint=checkpoint)
            self.dirty = True
            if self._due():
                self._write()

    def flush(self) -> None:
        """Write whatever is staged."""
        with self.lock:
            if self.dirty:
                self._write()

    def cancelled(self) -> bool:
        """Whether the row asks the job to stop (read at most once a second)."""
        now = self.clock()
        with self.lock:
            checked = self.cancel_checked_at
            if self.seen_cancel or (checked is not None and now - checked < CANCEL_CHECK_SECONDS):
                return self.seen_cancel
            self.cancel_checked_at = now
        asked = JobRun.select(JobRun.cancel_requested).where(JobRun.id == self.job.id).scalar()
        if asked:
            with self.lock:
                self.seen_cancel = self.job.cancel_requested = True
        return bool(asked)

    def eta(self) -> dt.datetime | None:
        """When the work should end at the rate seen since ``start`` (None: no rate yet)."""
        done = self.current - self.started_from
        elapsed = self.clock() - self.started_at
        if self.total is None or done <= 0 or elapsed <= 0:
            return None
        remaining = max(0, self.total - self.current)
        return utcnow() + dt.timedelta(seconds=remaining * elapsed / done)

    def _due(self) -> bool:
        if self.clock() - self.written_at >= WRITE_EVERY_SECONDS:
            return True
        step = (self.total or 0) * WRITE_EVERY_FRACTION
        return step > 0 and self.current - self.written_current >= step

    def _write(self) -> None:
        fields = {
            **self.staged,
            "progress_current": self.current,
            "progress_total": self.total,
            "progress_message": self.message,
            "eta_at": self.eta(),
        }
        self.job.save_checkpoint(fields.pop("checkpoint", self.job.checkpoint), **fields)
        self.staged, self.dirty = {}, False
        self.written_at, self.written_current = self.clock(), self.current


class TerminalProgress:
    """A tqdm bar in the terminal, passing every call on to ``inner``."""

    def __init__(self, description: str, unit: str, inner: Progress | None = None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=description, unit=unit, total=None)
        self.inner: Progress = inner or NoProgress()

    def start(self, total: int | None, message: str | None = None) -> None:
        """Set the bar's total."""
        self.bar.total = total
        self.bar.refresh()
        self.inner.start(total, message)

    def advance(self, n: int = 1, message: str | None = None) -> None:
        """Move the bar."""
        self.bar.update(n)
        self.inner.advance(n, message)

    def save(self, checkpoint: dict[str, Any], **fields: Any) -> None:
        """Pass the checkpoint on."""
        self.inner.save(checkpoint, **fields)

    def flush(self) -> None:
        """Pass it on."""
        self.inner.flush()

    def cancelled(self) -> bool:
        """Whatever the inner progress says."""
        return self.inner.cancelled()

    def close(self) -> None:
        """Finish the bar's line."""
        self.bar.close()


def for_job(job: JobRun | None) -> Progress:
    """The progress of a job's row, or none."""
    return JobProgress(job) if job is not None else NoProgress()
