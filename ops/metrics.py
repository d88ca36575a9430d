"""The Prometheus exposition of ``/metrics``, computed from Redis and the database at
scrape time.

A custom collector in a registry built for each scrape: the web processes keep no metric
state of their own, so every one of them answers the same, however many there are and
whichever the scraper reaches. The figures come from:

- ``job_runs`` (one GROUP BY): tracked jobs by actor and status, a gauge;
- the job counters every worker adds to Redis (``ops.counters``): all jobs, tracked or
  not, by actor and outcome, as counters that only grow, and their durations as a
  histogram (a summary gives no percentiles; buckets can be summed over actors and
  processes and read as percentiles with ``histogram_quantile``);
- the broker's keys (``ops.queues``): messages per queue and state, and paused queues;
- the worker list (``ops.workers``): live worker processes, threads, busy threads;
- Spotify's gate (``spotify.gate``): requests and 429s of the last minute, requests of
  the UTC day, 429s ever, and the pause in force, per host kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from config.redis_ref import RedisRef
from models.db import shared_time
from ops.clock_watch import ProcessClock, process_clocks
from ops.counters import STATUSES, job_totals
from ops.jobs import job_runs_by_actor_and_status
from ops.queues import queue_stats
from ops.workers import WorkerInfo, live_workers
from spotify.gate import HostStats

CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUE_STATES = ("waiting", "delayed", "running", "failed")


class OpsCollector:
    """Yields every family of ``/metrics`` when the registry collects it."""

    def __init__(
        self,
        ref: RedisRef,
        spotify_stats: Callable[[], Mapping[str, HostStats]] | None = None,
    ) -> None:
        self.ref = ref
        self.spotify_stats = spotify_stats

    def collect(self) -> Iterator[Metric]:
        """The families, read now."""
        yield from self._job_runs()
        yield from self._job_counters()
        workers = live_workers(self.ref)
        yield from self._queues(workers)
        yield from self._workers(workers)
        yield from self._process_clocks(process_clocks(self.ref))
        if self.spotify_stats is not None:
            yield from self._spotify(self.spotify_stats())

    def _job_runs(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "overlap_job_runs",
            "Tracked jobs (job_runs rows) by actor and status.",
            labels=["actor", "status"],
        )
        for (actor, status), count in sorted(job_runs_by_actor_and_status().items()):
            runs.add_metric([actor, status], count)
        yield runs

    def _job_counters(self) -> Iterator[Metric]:
        processed = CounterMetricFamily(
            "overlap_jobs_processed",
            "Messages processed by the workers, by actor and outcome "
            "(succeeded, failed for good, retried, skipped).",
            labels=["actor", "status"],
        )
        durations = HistogramMetricFamily(
            "overlap_job_duration_seconds",
            "Time the workers spent on each actor's messages, whatever the outcome.",
            labels=["actor"],
        )
        for actor, counts in job_totals(self.ref).items():
            for status in STATUSES:
                processed.add_metric([actor, status], getattr(counts, status))
            # _count is the +Inf bucket, every message counted, and _sum their time: the
            # same figures the summary had before the buckets came.
            buckets = [(floatToGoString(le), n) for le, n in counts.cumulative_buckets()]
            durations.add_metric([actor], buckets, counts.duration_ms / 1000)
        yield processed
        yield durations

    def _queues(self, workers: list[WorkerInfo]) -> Iterator[Metric]:
        messages = GaugeMetricFamily(
            "overlap_queue_messages",
            "Messages per queue and state: waiting, delayed (retries, deferred), running "
            "(fetched by a worker, not yet acknowledged), failed (dead-lettered).",
            labels=["queue", "state"],
        )
        paused = GaugeMetricFamily(
            "overlap_queue_paused", "1 when the queue is paused, else 0.", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "overlap_queue_workers", "Live worker processes consuming the queue.", labels=["queue"]
        )
        for stats in queue_stats(self.ref, workers=workers):
            for state in QUEUE_STATES:
                messages.add_metric([stats.queue, state], getattr(stats, state))
            paused.add_metric([stats.queue], int(stats.paused))
            consumers.add_metric([stats.queue], sum(stats.queue in w.queues for w in workers))
        yield messages
        yield paused
        yield consumers

    def _workers(self, workers: list[WorkerInfo]) -> Iterator[Metric]:
        yield GaugeMetricFamily("overlap_workers", "Live worker processes.", value=len(workers))
        yield GaugeMetricFamily(
            "overlap_worker_threads",
            "Worker threads of the live worker processes.",
            value=sum(w.threads for w in workers),
        )
        yield GaugeMetricFamily(
            "overlap_worker_busy_threads",
            "Worker threads processing a message (as of each worker's last heartbeat).",
            value=sum(w.busy_threads for w in workers),
        )
        yield GaugeMetricFamily(
            "overlap_workers_clock_held",
            "Live worker processes fetching nothing because their host's clock is more than "
            "5 s from Redis's.",
            value=sum(w.clock_held for w in workers),
        )
        offsets = GaugeMetricFamily(
            "overlap_worker_clock_offset_seconds",
            "Redis's clock minus the worker host's (positive: the host runs behind), as of "
            "its last comparison, once a minute.",
            labels=["worker"],
        )
        for worker in workers:
            if worker.clock_offset is not None:
                offsets.add_metric([worker.id], worker.clock_offset)
        yield offsets

    def _process_clocks(self, clocks: list[ProcessClock]) -> Iterator[Metric]:
        skewed = GaugeMetricFamily(
            "overlap_process_clock_skewed",
            "1 when a web or scheduler process's host clock is more than 5 s from Redis's "
            "(the web corrects its stamps; the scheduler sends no tick), else 0.",
            labels=["process", "role"],
        )
        offsets = GaugeMetricFamily(
            "overlap_process_clock_offset_seconds",
            "Redis's clock minus a web or scheduler host's (positive: the host runs behind), "
            "as of its last comparison, once a minute.",
            labels=["process", "role"],
        )
        for clock in clocks:
            skewed.add_metric([clock.id, clock.role], int(clock.skewed))
            if clock.offset is not None:
                offsets.add_metric([clock.id, clock.role], clock.offset)
        yield skewed
        yield offsets

    def _spotify(self, stats: Mapping[str, HostStats]) -> Iterator[Metric]:
        now = shared_time()
        for spec in SPOTIFY_FAMILIES:
            family = spec.kind(spec.name, spec.documentation, labels=["host"])
            for host, figures in sorted(stats.items()):
                family.add_metric([host], spec.value(figures, now))
            yield family


def _pause_left(figures: HostStats, now: float) -> float:
    """Seconds left in the host's pause, 0 when it is not paused."""
    left = max(0.0, figures.paused_until - now) if figures.paused_until else 0.0
    return round(left, 3)


class SpotifyFamily(NamedTuple):
    """A family of Spotify's gate, one series per host kind."""

    kind: type[GaugeMetricFamily | CounterMetricFamily]
    name: str
    documentation: str
    value: Callable[[HostStats, float], float]  # from the host's figures and the time now


SPOTIFY_FAMILIES = (
    SpotifyFamily(
        GaugeMetricFamily,
        "overlap_spotify_requests_last_minute",
        "Requests sent to Spotify in the last minute, by host kind (api, open).",
        lambda figures, now: figures.requests_last_minute,
    ),
    SpotifyFamily(
        GaugeMetricFamily,
        "overlap_spotify_rate_limited_last_minute",
        "429 answers from Spotify in the last minute, by host kind.",
        lambda figures, now: figures.rate_limited_last_minute,
    ),
    SpotifyFamily(
        CounterMetricFamily,
        "overlap_spotify_rate_limited",
        "429 answers from Spotify since the counters began, by host kind.",
        lambda figures, now: figures.rate_limited_total,
    ),
    SpotifyFamily(
        GaugeMetricFamily,
        "overlap_spotify_pause_seconds",
        "Seconds left in the pause Spotify asked for (0: not paused), by host kind.",
        _pause_left,
    ),
    SpotifyFamily(
        GaugeMetricFamily,
        "overlap_spotify_requests_today",
        "Requests sent to Spotify since 00:00 UTC, by host kind (SPOTIFY_DAILY_BUDGET "
        "counts the api ones).",
        lambda figures, now: figures.requests_today,
    ),
)


def render_metrics(
    ref: RedisRef,
    spotify_stats: Callable[[], Mapping[str, HostStats]] | None = None,
) -> bytes:
    """The Prometheus text exposition of everything above, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsCollector(ref, spotify_stats))
    return generate_latest(registry)
