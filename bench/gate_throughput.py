"""How close the Spotify gate comes to its configured rate, and what one gate call costs.

    .venv/bin/python bench/gate_throughput.py [--rate 100] [--seconds 10] [--threads 4]

Runs ``--threads`` threads in each of two processes, first as fast as they can (raw Redis
PING, then the gate at an unreachable rate: the cost of a call), then through the gate at
``--rate``. Uses ``$REDIS_URL``, or starts the embedded Redis.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from cli.embedded_redis import EmbeddedRedis
from config.redis_ref import RedisRef
from config.settings import Settings
from spotify.gate import SpotifyGate

PROCESSES = 2


def _process(
    redis_url: str, rate: float, op: str, threads: int, seconds: float, out: multiprocessing.Queue
) -> None:
    """Call ``op`` from ``threads`` threads for ``seconds``; put the call times on ``out``."""
    client = redis.Redis.from_url(redis_url)
    env = {"SECRET_KEY": "bench-key-0123456789abcdef012345", "SPOTIFY_API_RATE": str(rate)}
    settings = Settings.from_env(env, read_dotenv=False)
    gate = SpotifyGate(RedisRef(client, f"bench-{op}-{rate}"), settings)
    call: Callable[[], object] = client.ping if op == "ping" else lambda: gate.before_request("api")
    times: list[float] = []
    end = time.time() + seconds

    def loop() -> None:
        while True:
            call()
            if (now := time.time()) >= end:
                return
            times.append(now)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(times)


def run(redis_url: str, rate: float, op: str, threads: int, seconds: float) -> list[float]:
    """The sorted call times of ``PROCESSES`` processes running ``op`` together."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    args = (redis_url, rate, op, threads, seconds, out)
    processes = [context.Process(target=_process, args=args) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    times = sorted(t for _ in processes for t in out.get())
    for process in processes:
        process.join()
    return times


def busiest_second(times: list[float]) -> int:
    """The most calls in any one-second window."""
    busiest, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 1:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


def main(redis_url: str, rate: float, seconds: float, threads: int) -> None:
    """Measure and print the three runs side by side."""
    probe = min(seconds, 3.0)
    ping = len(run(redis_url, rate, "ping", threads, probe)) / probe
    # A rate no run can reach: every call is one reservation, never a sleep.
    free = len(run(redis_url, 1e6, f"free-{uuid.uuid4().hex[:6]}", threads, probe)) / probe
    limited = run(redis_url, rate, f"gate-{uuid.uuid4().hex[:6]}", threads, seconds)
    achieved = len(limited) / seconds
    print(f"{PROCESSES} processes x {threads} threads, Redis at {redis_url}")
    print(f"{'':28}{'calls/s':>10}{'ratio':>10}")
    print(f"{'raw Redis PING':28}{ping:>10.0f}{1:>10.2f}  (of PING)")
    print(f"{'gate, unthrottled':28}{free:>10.0f}{free / ping:>10.2f}  (of PING)")
    print(f"{f'gate at {rate:g}/s for {seconds:g} s':28}{achieved:>10.1f}{achieved / rate:>10.3f}"
          f"  (of the rate; busiest second {busiest_second(limited)})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()
    url = os.environ.get("REDIS_URL")
    if url:
        main(url, options.rate, options.seconds, options.threads)
    else:
        with EmbeddedRedis(Path(tempfile.mkdtemp()), persist=False) as server:
            main(server.url, options.rate, options.seconds, options.threads)
