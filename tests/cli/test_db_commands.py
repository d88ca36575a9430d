"""``overlap db upgrade`` names the scripts it runs, and ``overlap db status`` lists them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from models import database, migrations

# Every script in the folder, in order: the commands must name each one.
SCRIPTS = sorted(p.stem for p in Path(migrations.__file__).parent.glob("[0-9]*.py"))
LATEST = int(SCRIPTS[-1][:4])  # scripts are numbered; a number may be skipped


@pytest.fixture(autouse=True)
def _new_database(db: None, cli_env: None) -> Iterator[None]:
    """An empty database before each test, the latest schema after it."""
    migrations.drop_all()
    yield
    database.close()  # the command's own connection
    migrations.drop_all()
    migrations.upgrade()


def test_db_upgrade_names_each_script_it_applies_then_has_nothing_to_do(capsys):
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        *(f"applied {name}" for name in SCRIPTS),
        f"created the schema (version {LATEST})",
    ]

    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"the schema is up to date (version {LATEST})\n"


def test_db_status_lists_the_pending_scripts_and_exits_1_until_they_are_applied(capsys):
    assert main(["db", "status"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [["[", "]", name, "pending"] for name in SCRIPTS]
    assert len({line.index("pending") for line in lines}) == 1  # one column

    main(["db", "upgrade"])
    capsys.readouterr()

    assert main(["db", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["[x]", name, "applied"] for name in SCRIPTS]
