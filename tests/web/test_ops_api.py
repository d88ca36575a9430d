"""``/metrics`` and ``/api/queue/stats``: who may read them, and what they say."""

from __future__ import annotations

import dramatiq
import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families

from config.redis_ref import RedisRef
from jobs.queueing import ARTISTS_QUEUE, BULK_QUEUE, INTERACTIVE_QUEUE, build_message
from models import JobRun, User
from ops.counters import CounterBuffer
from ops.pause import pause_queue
from spotify.gate import SpotifyGate
from web.app import create_app

TOKEN = "test-metrics-token"
ADMIN, SOMEONE = "dmitri", "cleo"


@pytest.fixture
def web(app_settings, broker, db):
    """The app with Dmitri as its admin and a metrics token (``signed_in_web`` uses it)."""
    settings = app_settings.but(
        redis_namespace=broker.namespace,
        admin_spotify_ids=frozenset({ADMIN}),
        metrics_token=TOKEN,
    )
    return webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})


def samples(text: str) -> dict[str, dict[tuple, float]]:
    """Every sample of a Prometheus text exposition: name -> sorted labels -> value."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_metrics_need_an_admin_or_the_bearer_token(web, signed_in_web):
    anonymous = web.get("/metrics", expect_errors=True)
    assert anonymous.status_int == 401
    assert "METRICS_TOKEN" in anonymous.text

    wrong = web.get("/metrics", headers={"Authorization": "Bearer nope"}, expect_errors=True)
    assert wrong.status_int == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")

    right = web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_int == 200
    assert right.content_type == "text/plain"

    signed_in_web(SOMEONE)
    refused = web.get("/metrics", expect_errors=True)
    assert refused.status_int == 403
    assert "Only admins" in refused.text


def test_the_bearer_token_is_refused_when_no_token_is_configured(app_settings, broker, db):
    app = webtest.TestApp(create_app(app_settings.but(redis_namespace=broker.namespace)))

    response = app.get("/metrics", headers={"Authorization": "Bearer "}, expect_errors=True)

    assert response.status_int == 401
    assert "METRICS_TOKEN is not set" in response.text


def test_queue_stats_are_for_admins_only(web, signed_in_web):
    assert web.get("/api/queue/stats", expect_errors=True).status_int == 401
    signed_in_web(SOMEONE)

    response = web.get("/api/queue/stats", expect_errors=True)

    assert response.status_int == 403
    assert response.json == {"error": "only admins may see the queues"}


def test_queue_stats_show_each_queue_and_the_live_workers(web, signed_in_web, broker):
    signed_in_web(ADMIN)  # queues Dmitri's first sync on interactive
    broker.enqueue(build_message("ops_test_noop", BULK_QUEUE, [1]), delay=60_000)
    pause_queue(RedisRef.of(broker), BULK_QUEUE)
    worker = dramatiq.Worker(broker, queues={"periodic"}, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        body = web.get("/api/queue/stats").json
    finally:
        worker.stop()

    queues = {q["queue"]: q for q in body["queues"]}
    assert list(queues) == ["shared", "interactive", "artists", "bulk", "periodic"]
    oldest = queues["interactive"].pop("oldest_age")
    assert 0 <= oldest < 60  # seconds since Dmitri's sync was sent
    assert queues["interactive"] == {
        "queue": "interactive", "waiting": 1, "delayed": 0, "failed": 0, "running": 0,
        "processing": 0, "tracked_running": 0, "paused": False,
    }  # fmt: skip
    assert (queues["bulk"]["delayed"], queues["bulk"]["paused"]) == (1, True)
    [entry] = body["workers"]
    assert (entry["queues"], entry["threads"], entry["current"]) == (["periodic"], 2, [])


def test_metrics_carry_jobs_queues_workers_and_spotify(web, broker, app_settings):
    # Given a job row per status of interest, counters from the workers, messages on the
    # queues, one live worker and a 429 pause from Spotify...
    user = User.sign_in(ADMIN, "Dmitri", {})
    JobRun.open(message_id="m1", actor="update_user", args=[user.id], subject="user:1", queue="x")
    finished, _ = JobRun.open(
        message_id="m2", actor="update_user", args=[user.id], subject="user:2", queue="x"
    )
    finished.finish("succeeded")
    counters = CounterBuffer()
    for ms in (10, 20, 30):
        counters.record("update_artist", "succeeded", ms)
    counters.record("update_artist", "failed", 40)
    counters.flush(RedisRef.of(broker))
    for n in range(3):
        broker.enqueue(build_message("ops_test_noop", ARTISTS_QUEUE, [n]))
    broker.enqueue(build_message("ops_test_noop", BULK_QUEUE, [9]), delay=60_000)
    pause_queue(RedisRef.of(broker), BULK_QUEUE)
    gate = SpotifyGate(RedisRef.of(broker), app_settings)
    gate.before_request("open")
    gate.pause("api", 30)
    worker = dramatiq.Worker(broker, queues={"periodic"}, worker_threads=3, worker_timeout=100)
    worker.start()
    try:
        # ...when the scraper reads /metrics with the token,
        text = web.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        worker.stop()

    # then it parses, and every family says what was set up.
    s = samples(text)
    assert s["overlap_job_runs"] == {
        (("actor", "update_user"), ("status", "queued")): 1,
        (("actor", "update_user"), ("status", "succeeded")): 1,
    }
    artist = "update_artist"
    processed = s["overlap_jobs_processed_total"]
    assert processed[(("actor", artist), ("status", "succeeded"))] == 3
    assert processed[(("actor", artist), ("status", "failed"))] == 1
    assert processed[(("actor", artist), ("status", "retried"))] == 0
    assert s["overlap_job_duration_seconds_count"] == {(("actor", artist),): 4}
    assert s["overlap_job_duration_seconds_sum"] == {(("actor", artist),): pytest.approx(0.1)}
    depth = s["overlap_queue_messages"]
    assert depth[(("queue", ARTISTS_QUEUE), ("state", "waiting"))] == 3
    assert depth[(("queue", BULK_QUEUE), ("state", "delayed"))] == 1
    assert depth[(("queue", INTERACTIVE_QUEUE), ("state", "waiting"))] == 0
    assert len(depth) == 5 * 4  # every queue in every state
    assert s["overlap_queue_paused"][(("queue", BULK_QUEUE),)] == 1
    assert s["overlap_queue_paused"][(("queue", ARTISTS_QUEUE),)] == 0
    assert s["overlap_queue_workers"][(("queue", "periodic"),)] == 1
    assert s["overlap_queue_workers"][(("queue", BULK_QUEUE),)] == 0
    assert s["overlap_workers"] == {(): 1}
    assert s["overlap_worker_threads"] == {(): 3}
    assert s["overlap_spotify_requests_last_minute"] == {
        (("host", "api"),): 0,
        (("host", "open"),): 1,
    }
    assert s["overlap_spotify_rate_limited_total"] == {
        (("host", "api"),): 1,
        (("host", "open"),): 0,
    }
    assert 25 < s["overlap_spotify_pause_seconds"][(("host", "api"),)] <= 30
    assert s["overlap_spotify_pause_seconds"][(("host", "open"),)] == 0


def test_a_queued_job_shows_its_position_in_line(web, signed_in_web, broker):
    for n in range(2):
        broker.enqueue(build_message("ops_test_noop", INTERACTIVE_QUEUE, [n]))
    signed_in_web(SOMEONE)  # queues Cléo's first sync behind those two
    job = JobRun.get(JobRun.subject == f"user:{User.get(User.spotify_id == SOMEONE).id}")

    assert web.get(f"/api/jobs/{job.id}").json["position"] == 2

    consumer = broker.consume(INTERACTIVE_QUEUE, prefetch=1)
    next(consumer)  # a worker takes the first one
    assert web.get(f"/api/jobs/{job.id}").json["position"] == 1

    job.finish("succeeded")
    assert web.get(f"/api/jobs/{job.id}").json["position"] is None
