"""The ``overlap`` command: set up the database, run the app, and (later) run jobs by hand.

Each subcommand calls the same functions the web app and the actors call. Bad arguments
and bad settings get a one-line error and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from peewee import PeeweeException
from redis import RedisError

from cli.processes import run_scheduler, run_worker
from config import logs
from config.settings import Settings, SettingsError

if TYPE_CHECKING:
    from config.redis_ref import RedisRef
    from sync.context import SyncContext

Handler = Callable[[argparse.Namespace, Settings], int]
# What add_subparsers returns: argparse names the class but keeps it private.
Subparsers = argparse._SubParsersAction


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Create or upgrade the schema."""
    from cli import db_commands
    from models import init_database

    init_database(settings.database_url)
    return db_commands.upgrade()


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    """List the migration scripts, applied or pending."""
    from cli import db_commands
    from models import init_database

    init_database(settings.database_url)
    return db_commands.status()


def cmd_db_reset(args: argparse.Namespace, settings: Settings) -> int:
    """Drop every table and create them again (asks for --yes)."""
    if not args.yes:
        print("overlap: this deletes every user and artist; run again with --yes to do it")
        return 2
    from models import init_database, migrations

    init_database(settings.database_url)
    migrations.drop_all()
    migrations.upgrade()
    print("the database is empty and at the latest schema")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every process of the Procfile (plus the embedded Redis and the demo Spotify)."""
    from cli.devrun import run

    # The schema first, so that no process meets a missing table (make run does this too).
    cmd_db_upgrade(args, settings)
    return run(settings)


def cmd_demo_spotify(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the demo Spotify (with waitress, of the [local] extra)."""
    from cli.devrun import lacks_local, missing_local

    missing = missing_local("waitress")
    if missing:
        print(f"overlap: {lacks_local('overlap demo-spotify', missing)}")
        return 2
    from spotify_demo.server import main

    main(settings, args.host)
    return 0


def _sync_context(settings: Settings) -> tuple[SyncContext, bool]:
    """Database, broker and sync context for the commands that run jobs in the foreground."""
    import redis

    from actors.broker import configure
    from models import init_database, tokens
    from sync.context import SyncContext

    init_database(settings.database_url)
    tokens.configure(settings.token_keys)
    if not settings.redis_url:
        return SyncContext(settings=settings, send_artists=lambda ids: 0), False
    configure(settings)
    client = redis.Redis.from_url(settings.redis_url)
    return SyncContext.build(settings, client), True


def cmd_sync_user(args: argparse.Namespace, settings: Settings) -> int:
    """Run a user's sync in the foreground, with a progress bar."""
    from cli.job_commands import run_sync_user

    ctx, has_redis = _sync_context(settings)
    return run_sync_user(ctx, args.spotify_id, send_artists=has_redis)


def cmd_sync_artist(args: argparse.Namespace, settings: Settings) -> int:
    """Bring one artist up to date in the foreground."""
    from cli.job_commands import run_sync_artist

    ctx, _ = _sync_context(settings)
    return run_sync_artist(ctx, args.spotify_id)


def cmd_refresh_listeners(args: argparse.Namespace, settings: Settings) -> int:
    """Count the artists without this month's listeners and send them to the bulk queue."""
    from cli.job_commands import run_refresh

    _, has_redis = _sync_context(settings)
    dry_run = args.dry_run or not has_redis
    return run_refresh(dry_run, has_redis=has_redis, pages_rate=settings.spotify_pages_rate)


def cmd_jobs_clean(args: argparse.Namespace, settings: Settings) -> int:
    """Remove the finished job runs past their retention (or older than --days)."""
    from cli import ops_commands as cli_ops
    from jobs.retention import (
        clean_finished_runs,
        count_expired_runs,
        describe,
        retention,
        retention_of_days,
    )
    from models import init_database

    days = _days(args.days)
    if days == 0:
        print(
            f"overlap: --days must be a whole number of at least 1, not {args.days!r}",
            file=sys.stderr,
        )
        return 2
    init_database(settings.database_url)
    older_than = retention(settings) if days is None else retention_of_days(days)
    if args.dry_run:
        count = count_expired_runs(older_than)
        print(f"would remove {count:,} job runs ({describe(older_than)})")
        return 0
    cleanup = clean_finished_runs(older_than)
    cli_ops.audit("clean", f"jobs:{describe(older_than)}"[:160], cleanup.removed)
    batches = f"{cleanup.batches:,} batch{'es' if cleanup.batches != 1 else ''}"
    print(f"removed {cleanup.removed:,} job runs ({describe(older_than)}) in {batches}")
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    """List, show, cancel or retry job runs."""
    from cli import ops_commands as cli_ops
    from models import init_database

    init_database(settings.database_url)
    if args.jobs_command == "list":
        return cli_ops.list_jobs(args.status, args.actor, args.limit)
    if args.jobs_command == "show":
        return cli_ops.show_job(args.job_id)
    if settings.redis_url:  # cancelling needs none; a retry sends a message
        from actors.broker import configure

        configure(settings)
    if args.jobs_command == "cancel":
        return cli_ops.cancel_job(args.job_id)
    if not settings.redis_url:
        print("overlap: REDIS_URL is not set, so nothing can be sent", file=sys.stderr)
        return 2
    return cli_ops.retry(args.job_id)


def _operator_redis(settings: Settings, nothing_there: str) -> RedisRef | None:
    """The Redis reference of an operator's command, with the database open.

    None, after saying on stderr that there is ``nothing_there``, when REDIS_URL is unset.
    """
    import redis

    from config.redis_ref import RedisRef
    from models import init_database

    if not settings.redis_url:
        print(f"overlap: REDIS_URL is not set: {nothing_there}", file=sys.stderr)
        return None
    init_database(settings.database_url)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    return RedisRef.from_settings(settings, client)


def cmd_queues(args: argparse.Namespace, settings: Settings) -> int:
    """Show the queues, or pause or resume one."""
    from cli import ops_commands as cli_ops

    ref = _operator_redis(settings, "there are no queues to show")
    if ref is None:
        return 2
    if args.action == "dead":
        return cli_ops.dead_letters(ref, args.queue, args.more)
    if args.action in ("list", "delete", "purge"):
        return cli_ops.queue_messages(ref, args.action, args.queue, args.more, args.yes)
    return cli_ops.queues(ref, args.action, args.queue)


def cmd_spotify(args: argparse.Namespace, settings: Settings) -> int:
    """Show today's Spotify requests and pauses, or end the pauses (audited)."""
    import datetime as dt

    from cli import ops_commands as cli_ops
    from spotify.gate import HOST_KINDS, SpotifyGate

    ref = _operator_redis(settings, "there is no Spotify pause")
    if ref is None:
        return 2
    gate = SpotifyGate(ref, settings)
    if args.action == "resume":
        for kind in HOST_KINDS:
            ended = gate.resume(kind)
            cli_ops.audit("resume", f"spotify:{kind}", int(ended))
            print(f"{kind}: {'pause ended' if ended else 'was not paused'}")
        return 0
    budget = f" of {settings.spotify_daily_budget:,}" if settings.spotify_daily_budget else ""
    for kind, figures in gate.stats().items():
        until = figures.paused_until
        state = (
            f"paused until {dt.datetime.fromtimestamp(until, dt.UTC):%H:%M:%S UTC}"
            if until
            else "running"
        )
        spent = f"{figures.requests_today:,}{budget if kind == 'api' else ''}"
        print(f"{kind}: {spent} requests today (UTC), {state}")
    return 0


def cmd_tokens_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    """Re-encrypt every stored Spotify token with the newest TOKEN_KEY."""
    from cli.token_commands import rotate_key
    from models import init_database, tokens

    init_database(settings.database_url)
    tokens.configure(settings.token_keys)
    return rotate_key()


def _days(raw: str | None) -> int | None:
    """The --days option: None when not given, 0 when it is not a whole number above 0."""
    if raw is None:
        return None
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the dramatiq worker with overlap's logging (``main`` usually calls it first)."""
    return run_worker(settings, args.process_args)


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    """Run the periodiq scheduler with overlap's logging (``main`` usually calls it first)."""
    return run_scheduler(settings, args.process_args)


# The commands whose arguments are the process's own: ``main`` hands them over unread.
PROCESS_RUNNERS: dict[str, Callable[[Settings, Sequence[str]], int]] = {
    "worker": run_worker,
    "scheduler": run_scheduler,
}


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check the settings, Redis, the database, the scheduler, the workers and Spotify."""
    from cli.doctor import run_doctor

    return run_doctor(lambda: settings)


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings in force, secrets hidden."""
    for name, value in settings.redacted().items():
        print(f"{name} = {value}")
    return 0


# The commands that write or compare job rows' stamps: retention's cut-offs (``jobs
# clean``), a foreground sync's heartbeats and ends (which the crash recovery of every
# host compares), a cancel's end, the ages ``jobs list`` shows.
ON_SHARED_CLOCK = frozenset({"jobs", "sync-user", "sync-artist", "refresh-listeners"})


def use_shared_clock(settings: Settings) -> None:
    """Put this command's stamps on Redis's clock, as the app's processes put theirs
    (ops/clock.py): run on a host whose clock is off, ``jobs clean`` would otherwise delete
    runs early (ahead) or late (behind), and a foreground sync's heartbeats would look
    stale, or fresh, to the recovery. Without REDIS_URL (the embedded setup: one host) or
    with Redis away, the host's clock stands, as it did."""
    if not settings.redis_url:
        return
    import redis

    from config.redis_ref import RedisRef
    from ops.clock import RedisClock

    log = logging.getLogger("cli")
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    clock = RedisClock()
    try:
        clock.measure(RedisRef.from_settings(settings, client))
    except redis.RedisError as error:
        log.warning("could not compare this host's clock with Redis's (%s): it stands", error)
        return
    finally:
        client.close()
    if clock.skewed:
        log.warning("this host's clock is %s: the command's stamps are Redis's", clock.describe())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr, like every other error here."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` in one line and exit with status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="overlap", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_db_commands(sub)
    _command(sub, "run", cmd_run, "run the whole app in this terminal")
    demo = _command(sub, "demo-spotify", cmd_demo_spotify, "serve the demo Spotify")
    # Another host's address serves it to other machines (the rig's spotify host does).
    demo.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    _add_foreground_commands(sub)
    _add_jobs_commands(sub)
    _add_operator_commands(sub)
    _command(sub, "settings", cmd_settings, "print the settings in force")
    _command(sub, "doctor", cmd_doctor, "check that everything the app needs answers")
    worker = _command(
        sub, "worker", cmd_worker, "run the dramatiq worker (the Procfile's worker lines)"
    )
    worker.add_argument("process_args", nargs="*", metavar="ARG", help="dramatiq's options")
    scheduler = _command(
        sub, "scheduler", cmd_scheduler, "run the periodiq scheduler (the Procfile's line)"
    )
    scheduler.add_argument("process_args", nargs="*", metavar="ARG", help="periodiq's options")
    return parser


def _command(sub: Subparsers[_Parser], name: str, handler: Handler, help_text: str) -> _Parser:
    """Add the subcommand ``name``, run by ``handler``; the caller adds its arguments."""
    command = sub.add_parser(name, help=help_text)
    command.set_defaults(handler=handler)
    return command


def _group(sub: Subparsers[_Parser], name: str, help_text: str) -> Subparsers[_Parser]:
    """Add the subcommand ``name`` whose ACTION names one of its own subcommands."""
    group = sub.add_parser(name, help=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def _add_db_commands(sub: Subparsers[_Parser]) -> None:
    """``db upgrade``, ``db status`` and ``db reset``."""
    db_sub = _group(sub, "db", "create or upgrade the database schema")
    _command(db_sub, "upgrade", cmd_db_upgrade, "create or upgrade the schema")
    _command(
        db_sub,
        "status",
        cmd_db_status,
        "list the migration scripts, applied or pending (exit 1: pending)",
    )
    reset = _command(db_sub, "reset", cmd_db_reset, "drop every table and start empty")
    reset.add_argument("--yes", action="store_true", help="really delete everything")


def _add_foreground_commands(sub: Subparsers[_Parser]) -> None:
    """The jobs run in this terminal: ``sync-user``, ``sync-artist``, ``refresh-listeners``."""
    sync_user = _command(sub, "sync-user", cmd_sync_user, "sync one user now, in the foreground")
    sync_user.add_argument("spotify_id", help="the user's Spotify id")
    sync_artist = _command(sub, "sync-artist", cmd_sync_artist, "bring one artist up to date now")
    sync_artist.add_argument("spotify_id", help="the artist's Spotify id")
    refresh = _command(
        sub,
        "refresh-listeners",
        cmd_refresh_listeners,
        "send the artists without this month's count to the workers, a slice at a time",
    )
    refresh.add_argument("--dry-run", action="store_true", help="only count them")


def _add_jobs_commands(sub: Subparsers[_Parser]) -> None:
    """``jobs clean``, ``list``, ``show``, ``cancel`` and ``retry``."""
    jobs_sub = _group(sub, "jobs", "look after the job runs")
    clean = _command(
        jobs_sub,
        "clean",
        cmd_jobs_clean,
        "remove finished job runs past their retention (never active ones)",
    )
    clean.add_argument(
        "--days",
        metavar="N",
        help="remove every finished run older than N days instead of the settings' retention",
    )
    clean.add_argument("--dry-run", action="store_true", help="only count them")
    listing = _command(jobs_sub, "list", cmd_jobs, "the newest job runs")
    listing.add_argument("--status", help="only runs with this status")
    listing.add_argument("--actor", help="only runs of this actor")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    _command(jobs_sub, "show", cmd_jobs, "everything about one job run").add_argument("job_id")
    _command(jobs_sub, "cancel", cmd_jobs, "cancel a job run (all: every active one)").add_argument(
        "job_id", metavar="JOB_ID|all"
    )
    _command(
        jobs_sub, "retry", cmd_jobs, "run a failed job again (failed: all of them)"
    ).add_argument("job_id", metavar="JOB_ID|failed")


def _add_operator_commands(sub: Subparsers[_Parser]) -> None:
    """``queues``, ``spotify`` and ``tokens``: what an operator reads and switches."""
    queues = _command(
        sub, "queues", cmd_queues, "show the queues, pause or resume one, list or delete messages"
    )
    queues.add_argument(
        "action", choices=("stats", "pause", "resume", "list", "delete", "purge", "dead")
    )
    queues.add_argument(
        "queue",
        nargs="?",
        help="the queue to act on; for dead: list, requeue or delete",
    )
    queues.add_argument(
        "more",
        nargs="*",
        help="list: [waiting|delayed|retrying] [SKIP]; delete: MESSAGE_ID; "
        "dead: [QUEUE] or QUEUE ID|all",
    )
    queues.add_argument("--yes", action="store_true", help="purge: really delete them")
    spotify_cmd = _command(
        sub, "spotify", cmd_spotify, "today's Spotify requests and pauses; resume: end a pause now"
    )
    spotify_cmd.add_argument("action", choices=("status", "resume"))
    tokens_sub = _group(sub, "tokens", "look after the Spotify tokens sealed at rest")
    _command(
        tokens_sub,
        "rotate-key",
        cmd_tokens_rotate_key,
        "re-encrypt every stored token with the newest TOKEN_KEY",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``overlap`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # ``worker`` and ``scheduler`` hand every argument after them to dramatiq or periodiq,
    # which argparse cannot leave unread (--processes would be taken for one of ours).
    asks_help = argv[1:2] in (["-h"], ["--help"])
    runner = PROCESS_RUNNERS.get(argv[0]) if argv and not asks_help else None
    args = build_parser().parse_args(argv) if runner is None else None
    if args is not None and args.command == "doctor":
        from cli.doctor import run_doctor

        return run_doctor()  # it reads the settings itself: a bad one is a finding
    try:
        settings = Settings.from_env()
        if args is None:
            assert runner is not None
            return runner(settings, argv[1:])
        logs.configure(settings, "cli")
        logging.getLogger("cli").debug("overlap %s", args.command)
        if args.command in ON_SHARED_CLOCK:
            use_shared_clock(settings)
        return args.handler(args, settings)
    except SettingsError as exc:
        print(f"overlap: bad setting: {exc}", file=sys.stderr)
        return 2
    except PeeweeException as exc:
        print(f"overlap: the database did not answer: {exc}".strip(), file=sys.stderr)
        return 3
    except RedisError as exc:
        print(f"overlap: Redis did not answer: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
