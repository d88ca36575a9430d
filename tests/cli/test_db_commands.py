"""``overlap db upgrade`` names the scripts it runs, and ``overlap db status`` lists them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli.main import main
from models import database, migrations

SCRIPTS = [
    "0001_initial",
    "0002_job_eta_and_list_indexes",
    "0003_job_run_api_requests",
    "0004_user_session_version",
]


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
        "created the schema (version 4)",
    ]

    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == "the schema is up to date (version 4)\n"


def test_db_status_lists_the_pending_scripts_and_exits_1_until_they_are_applied(capsys):
    assert main(["db", "status"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "[ ] 0001_initial                   pending",
        "[ ] 0002_job_eta_and_list_indexes  pending",
        "[ ] 0003_job_run_api_requests      pending",
        "[ ] 0004_user_session_version      pending",
    ]

    main(["db", "upgrade"])
    capsys.readouterr()

    assert main(["db", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["[x]", name, "applied"] for name in SCRIPTS]
