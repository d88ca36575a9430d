"""JobProgress writes the row at most every tenth of the total or two seconds, carries
the staged checkpoint and an ETA, and reads cancellation from the row."""

from __future__ import annotations

from jobs.progress import JobProgress
from models import JobRun


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_job() -> JobRun:
    job, _ = JobRun.open(message_id="p-1", actor="update_user", args=[1], subject="user:1",
                         queue="interactive", status="running")  # fmt: skip
    return job


def row(job: JobRun) -> JobRun:
    return JobRun.get_by_id(job.id)


def test_writes_come_every_tenth_of_the_total_or_every_two_seconds(db):
    job, clock = new_job(), Clock()
    progress = JobProgress(job, clock=clock)
    progress.start(100, "loading")
    assert (row(job).progress_current, row(job).progress_total) == (0, 100)

    for _ in range(9):
        progress.advance(1)
    assert row(job).progress_current == 0  # nine steps, no time: not yet
    progress.advance(1, "ten done")
    assert (row(job).progress_current, row(job).progress_message) == (10, "ten done")

    progress.advance(1)
    clock.now += 1.9
    progress.advance(1)
    assert row(job).progress_current == 10
    clock.now += 0.2
    progress.advance(1)
    assert row(job).progress_current == 13


def test_the_staged_checkpoint_goes_with_the_next_write_and_flush_writes_it_now(db):
    job, clock = new_job(), Clock()
    progress = JobProgress(job, clock=clock)
    progress.start(1000)
    progress.save({"pages_loaded": 1}, pages_loaded=1)
    progress.advance(1)
    assert row(job).checkpoint is None

    progress.flush()
    assert row(job).checkpoint == {"pages_loaded": 1}
    assert (row(job).pages_loaded, row(job).progress_current) == (1, 1)


def test_the_eta_follows_the_rate_seen_since_start(db):
    job, clock = new_job(), Clock()
    progress = JobProgress(job, clock=clock)
    progress.start(100)
    clock.now += 10
    progress.advance(10)  # one step a second: 90 to go
    eta = row(job).eta_at
    assert eta is not None
    seconds = (eta - row(job).heartbeat_at).total_seconds()
    assert 85 <= seconds <= 95


def test_cancellation_is_read_from_the_row_at_most_once_a_second(db):
    job, clock = new_job(), Clock()
    progress = JobProgress(job, clock=clock)
    assert not progress.cancelled()
    assert JobRun.get_by_id(job.id).request_cancel() == "cancelling"
    assert not progress.cancelled()  # read less than a second ago
    clock.now += 1.0
    assert progress.cancelled() and progress.job.cancel_requested
