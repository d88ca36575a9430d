"""The rig's fixtures: the hosts, the data host's own PostgreSQL and Redis, and the whole
app on them (``stack``: the same code as ``stack.py up``)."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load_stack() -> ModuleType:
    """``stack.py`` beside this file, which loads ``hosts.py`` (the rig's folder is not a
    package; a scenario's child process loads them by path too)."""
    if "rig_stack" not in sys.modules:
        path = Path(__file__).with_name("stack.py")
        spec = importlib.util.spec_from_file_location("rig_stack", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["rig_stack"] = module
        spec.loader.exec_module(module)
    return sys.modules["rig_stack"]


rig_stack = _load_stack()
rig_hosts = rig_stack.sibling("hosts")
Rig, rig, why_not = rig_hosts.Rig, rig_hosts.rig, rig_hosts.why_not
DataHost, Stack = rig_stack.DataHost, rig_stack.Stack


@pytest.fixture
def make_rig():
    """The ``rig`` context manager, after skipping where it cannot run."""
    if (reason := why_not()) is not None:
        pytest.skip(reason)
    return rig


@pytest.fixture(scope="module")
def hosts() -> Iterator[Rig]:
    """The five hosts, reachable from this machine, removed after the module's tests."""
    if (reason := rig_stack.why_not_here()) is not None:
        pytest.skip(reason)
    with rig() as made:
        made.reach_from_here()
        yield made


@pytest.fixture(scope="module")
def data_host(hosts: Rig) -> Iterator[DataHost]:
    """PostgreSQL (initdb into a temporary directory, run as ``postgres``) and Redis, both
    on the data host's address."""
    with rig_stack.data_host(hosts) as data:
        yield data


@pytest.fixture(scope="module")
def stack(request, hosts: Rig, data_host: DataHost) -> Iterator[Stack]:
    """The whole app on the hosts, for the module's tests, with the module's ``STACK_ENV``
    settings and ``STACK_OPTIONS`` (``delay_ms``, ``standby_scheduler``). This process's
    models then read the data host's database (the session's again afterwards)."""
    from models import database, init_database, tokens

    env = getattr(request.module, "STACK_ENV", {})
    options = getattr(request.module, "STACK_OPTIONS", {})
    log_dir = Path(tempfile.mkdtemp(prefix="overlap-stack-"))
    app = Stack(hosts, data_host, log_dir, env=env, **options)
    previous, keyring = database.obj, tokens._keyring
    try:
        app.start()
        init_database(data_host.database_url)
        tokens.configure((rig_stack.TOKEN_KEY,))
        yield app
    finally:
        app.stop()
        database.close()
        if previous is not None:
            database.initialize(previous)
        tokens._keyring = keyring  # the session's keys again, for the tests after these
        print(f"\nthe stack's logs: {log_dir}")
