"""Every actor name the code sends, schedules or retries is one the worker declares, and
each is spelled once, in ``jobs.queueing``."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from jobs import queueing
from jobs.actions import QUEUE_OF
from ops.schedules import SCHEDULES, TRACKED

ROOT = Path(__file__).resolve().parents[2]
# What the worker process (``dramatiq actors.app``) declares, as JSON: actor -> its queue and
# whether it is periodic and tracked.
DECLARED = """
import json
import actors.app
broker = actors.app.broker
print(json.dumps({
    name: {
        "queue": broker.get_actor(name).queue_name,
        "periodic": "periodic" in broker.get_actor(name).options,
        "tracked": bool(broker.get_actor(name).options.get("tracked")),
    }
    for name in broker.get_declared_actors()
}))
"""
# The calls that build or send a message by actor name, and the keywords that name one.
SENDERS = {"build_message", "send_many"}
NAMING_KEYWORDS = {"actor", "actor_name"}


@pytest.fixture(scope="module")
def declared(base_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The actors that ``actors.app`` declares, loaded in a process of their own as the
    worker loads them."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run(
        [sys.executable, "-c", DECLARED],
        env={**env, **base_env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def app_modules() -> list[Path]:
    """Every module of the app's packages (the import contract's root packages)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["importlinter"]["root_packages"]
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def named_actors(tree: ast.AST) -> list[tuple[int, ast.expr]]:
    """Each expression the module passes as an actor name, with its line."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in SENDERS and node.args:
            found.append((node.lineno, node.args[0]))
        found += [(node.lineno, k.value) for k in node.keywords if k.arg in NAMING_KEYWORDS]
    return found


def test_the_worker_declares_exactly_the_actors_named_in_jobs_queueing(declared):
    assert sorted(declared) == sorted(queueing.ACTORS)


def test_every_schedule_is_a_periodic_actor_and_every_periodic_actor_has_one(declared):
    periodic = {name for name, actor in declared.items() if actor["periodic"]}
    assert set(SCHEDULES) == periodic
    assert all(declared[name]["queue"] == queueing.PERIODIC_QUEUE for name in periodic)


def test_the_schedules_with_a_job_row_are_the_tracked_periodic_actors(declared):
    tracked = {name for name, actor in declared.items() if actor["periodic"] and actor["tracked"]}
    assert set(TRACKED) == tracked


def test_a_retry_by_hand_goes_to_a_declared_actor_on_its_own_queue(declared):
    assert QUEUE_OF
    for name, queue in QUEUE_OF.items():
        assert name in declared, f"{name} is retried by hand but no actor has that name"
        assert declared[name]["queue"] == queue


def test_every_actor_name_the_code_sends_by_is_a_declared_actor_s(declared):
    wrong = []
    for path in app_modules():
        for line, expr in named_actors(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{line}"
            if isinstance(expr, ast.Constant):
                wrong.append(f"{where}: {expr.value!r} is spelled out (use jobs.queueing's)")
                continue
            constant = expr.attr if isinstance(expr, ast.Attribute) else getattr(expr, "id", "")
            # Anything else is a name read from a row, a form or a checked table.
            if constant.isupper() and hasattr(queueing, constant):
                value = getattr(queueing, constant)
                if value not in declared:
                    wrong.append(f"{where}: {constant} ({value!r}) is no declared actor")
    assert wrong == []


def test_no_actor_name_is_spelled_outside_jobs_queueing(declared):
    spelled = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path in app_modules()
        if path != ROOT / "jobs" / "queueing.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in declared
    ]
    assert spelled == []
