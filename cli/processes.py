"""The long-running processes the ``overlap`` command starts itself, with overlap's logging:
``overlap worker`` and ``overlap scheduler``.

``overlap worker`` is ``dramatiq actors.app`` with the arguments it is given, but the
master process logs through config/logs.py as well: dramatiq would set up its own format
in the master, before any of our code runs, so its lines (a worker process that died, a
shutdown) would be the only ones without the time in UTC, the role or JSON. The worker
processes it forks log through the same setup (actors/app.py configures it again there,
as the ``worker`` role). ``overlap scheduler`` is ``periodiq actors.app`` likewise: periodiq
writes its first line in a format of its own before it loads our code.
"""

from __future__ import annotations

from collections.abc import Sequence

from config import logs
from config.settings import Settings

# What ``dramatiq`` loads: the broker, the database and every actor.
WORKER_MODULE = "actors.app"


def run_worker(settings: Settings, dramatiq_args: Sequence[str]) -> int:
    """Run dramatiq's master with ``dramatiq_args`` (``--processes``, ``--queues``, ...)."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    logs.configure(settings, "worker")
    # --skip-logging: dramatiq leaves the root logger (ours) alone, in the master and in
    # the worker processes, whose stderr it points at the pipe the master reads.
    args = make_argument_parser().parse_args(["--skip-logging", WORKER_MODULE, *dramatiq_args])
    return int(dramatiq_main(args) or 0)


def run_scheduler(settings: Settings, periodiq_args: Sequence[str]) -> int:
    """Run periodiq on the app's actors with ``periodiq_args`` (``--verbose``, ...), its
    clock compared with Redis's before the first tick and every minute after."""
    import periodiq
    import redis

    from config.redis_ref import RedisRef
    from ops.clock_watch import ClockWatch

    logs.configure(settings, "scheduler")
    if settings.redis_url:
        # Before periodiq's loop: a scheduler whose clock is off sends no tick, even its
        # first (actors/scheduled_actor.py asks this watch before each).
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        ref = RedisRef.from_settings(settings, client)
        ClockWatch(ref, "scheduler", "it sends no tick").start()
    args = periodiq.make_argument_parser().parse_args([WORKER_MODULE, *periodiq_args])
    return int(periodiq.main(args) or 0)
