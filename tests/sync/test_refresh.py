"""The monthly refresh reports its progress on its job row and stops when cancelled."""

from __future__ import annotations

from jobs.progress import JobProgress
from models import Artist, ArtistListeners, JobRun
from models.artist import ArtistFields
from sync.artists import refresh_outdated_artists


def artists(n: int) -> dict[str, int]:
    return Artist.upsert_many(
        [ArtistFields(f"{i:022d}", f"A{i}", "u", None, True) for i in range(n)]
    )


def refresh_job() -> JobRun:
    job, _ = JobRun.open(
        message_id="r-1",
        actor="refresh_listeners",
        args=[],
        subject="actor:refresh_listeners",
        queue="periodic",
        status="running",
    )
    return job


def test_the_refresh_counts_its_way_to_the_highest_artist_id(db):
    ids = artists(7)
    ArtistListeners.record(ids[f"{0:022d}"], 5)  # up to date
    job = refresh_job()

    result = refresh_outdated_artists(chunk=2, dry_run=True, progress=JobProgress(job))

    row = JobRun.get_by_id(job.id)
    assert result.outdated == 6
    assert row.progress_current == row.progress_total == max(ids.values())
    assert row.progress_message == "6 outdated artists found"


def test_a_cancelled_refresh_stops_after_the_chunk_in_hand(db):
    artists(7)
    job = refresh_job()
    JobRun.get_by_id(job.id).request_cancel()

    result = refresh_outdated_artists(chunk=2, dry_run=True, progress=JobProgress(job))

    assert result.outdated == 2
