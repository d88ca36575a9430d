"""The ``overlap`` command: set up the database, run the app, and (later) run jobs by hand.

Each subcommand calls the same functions the web app and the actors call. Bad arguments
and bad settings get a one-line error and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from overlap.settings import Settings, SettingsError

Handler = Callable[[argparse.Namespace, Settings], int]


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Create or upgrade the schema."""
    from models import init_database, migrations

    init_database(settings.database_url)
    before, after = migrations.upgrade()
    if before is None:
        print(f"created the schema (version {after})")
    elif before == after:
        print(f"the schema is up to date (version {after})")
    else:
        print(f"upgraded the schema from version {before} to {after}")
    return 0


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
    from overlap.devrun import run

    return run(settings)


def cmd_demo_spotify(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the demo Spotify."""
    from spotify.demo.server import main

    main(settings)
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings in force, secrets hidden."""
    for name, value in settings.redacted().items():
        print(f"{name} = {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="overlap", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="create or upgrade the database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="create or upgrade the schema").set_defaults(
        handler=cmd_db_upgrade
    )
    reset = db_sub.add_parser("reset", help="drop every table and start empty")
    reset.add_argument("--yes", action="store_true", help="really delete everything")
    reset.set_defaults(handler=cmd_db_reset)

    sub.add_parser("run", help="run the whole app in this terminal").set_defaults(handler=cmd_run)
    sub.add_parser("demo-spotify", help="serve the demo Spotify").set_defaults(
        handler=cmd_demo_spotify
    )
    sub.add_parser("settings", help="print the settings in force").set_defaults(
        handler=cmd_settings
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``overlap`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.handler(args, settings)
    except SettingsError as exc:
        print(f"overlap: bad setting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
