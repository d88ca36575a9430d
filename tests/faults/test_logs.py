"""The logs of a whole run of the Procfile's processes, started as a process manager
starts them (this folder's conftest.py), with ``LOG_FORMAT=json``: the release line, the
web, a worker, the scheduler and an ``overlap`` command.

Every line each writes is one JSON object with the time in UTC, the level and its role;
the request id a trusted proxy sends is kept and one it should not is replaced; a sign-in's
request id follows the sync it sends into the worker's lines. And after a sign-in, a
comparison by friend code and a sync, no line of any process holds an OAuth code, a friend
code, a Spotify token, a session cookie or one of the app's secrets.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from actors.testing import job_finished, wait_for
from config.settings import DEMO_CLIENT_SECRET
from models import Artist, User

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
PROXY_ID = "edge-7.f_Q"


def json_lines(text: str, role: str) -> list[dict]:
    """Every line of ``text`` as JSON, each checked for the fields every line carries."""
    lines = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"a {role} line is not JSON: {line!r}")
        assert UTC_TIME.fullmatch(record["time"]), record
        assert record["level"] in LEVELS, record
        assert record["role"] == role, record
        assert isinstance(record["logger"], str) and isinstance(record["message"], str), record
        lines.append(record)
    assert lines, f"the {role} wrote no line"
    return lines


def run_command(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_every_process_writes_json_lines_with_their_fields_and_no_secret(
    db, app_env, app_processes, demo_spotify
):
    # Given the Procfile's release line run, then its web, worker and scheduler, in JSON.
    app_env["LOG_FORMAT"] = "json"
    release = run_command(["/bin/sh", "-c", f"exec {app_processes.commands['release']}"], app_env)
    for name in ("web", "worker", "scheduler"):
        app_processes.start(name)
    app_processes.wait_for_web()
    url = app_processes.web_url

    # When a proxy's request id comes with a request, and a malformed one with another...
    kept = requests.get(f"{url}/healthz", headers={"X-Request-ID": PROXY_ID}, timeout=30)
    replaced = requests.get(f"{url}/healthz", headers={"X-Request-ID": "no spaces!"}, timeout=30)
    # ...and two people sign in (each sign-in sends a sync) and compare by friend code...
    cleo = app_processes.sign_in(demo_spotify, "cleo")
    emma = app_processes.sign_in(demo_spotify, "emma")
    me = cleo.get(f"{url}/api/me", timeout=30).json()
    code = me["friend_code"]
    emma.get(f"{url}/compare/{code}", timeout=30)
    emma.get(f"{url}/api/compare/{code}", timeout=30)
    emma.get(f"{url}/artists/none?with={code}", timeout=30)
    finished = wait_for(job_finished(me["sync"]["job_id"]), timeout=120, what="cleo's sync")
    assert finished.status == "succeeded"
    token = User.get(User.spotify_id == "cleo").load_token()
    emma.get(f"{url}/healthz?access_token={token['access_token']}", timeout=30)
    # ...and an overlap command runs, at DEBUG.
    artist = Artist.select().first().spotify_id
    cli = run_command(
        [str(BIN / "overlap"), "sync-artist", artist], {**app_env, "LOG_LEVEL": "DEBUG"}
    )
    app_processes.stop_all()

    # Then every line of every process is JSON with the fields of every line...
    web = json_lines(app_processes.log("web", whole=True), "web")
    worker = json_lines(app_processes.log("worker", whole=True), "worker")
    json_lines(app_processes.log("scheduler", whole=True), "scheduler")
    json_lines(cli.stderr, "cli")
    if release.stderr:  # the migrations it ran, if it logged any
        json_lines(release.stderr, "cli")

    # ...the proxy's id is kept, the malformed one replaced, and the access lines have theirs.
    assert kept.headers["X-Request-ID"] == PROXY_ID
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])
    access = [r for r in web if r["logger"] == "gunicorn.access"]
    proxied = next(r for r in access if r.get("request_id") == PROXY_ID)
    assert (proxied["method"], proxied["path"], proxied["status"]) == ("GET", "/healthz", 200)
    # ...and the sign-in's request id is on the worker's lines of the sync it sent.
    callback = next(r for r in access if r["path"].startswith("/callback?"))
    assert "code=***" in callback["path"]
    synced = next(r for r in worker if r.get("job_id") == str(finished.id))
    assert synced["request_id"] == callback["request_id"]
    assert synced["actor"] == "update_user" and synced["message_id"]
    assert synced["user_id"] == str(User.get(User.spotify_id == "cleo").id)

    # And no line of the whole run holds a code, a token, a cookie or a secret.
    everything = "\n".join(
        [*(app_processes.log(n, whole=True) for n in ("web", "worker", "scheduler"))]
        + [release.stdout, release.stderr, cli.stdout, cli.stderr]
    ).lower()
    secrets = {
        "the OAuth codes": app_processes.oauth_codes,
        "the friend codes": [code, *(u.friend_code for u in User.select())],
        "the Spotify tokens": [
            t[k]
            for u in User.select()
            if (t := u.load_token())
            for k in ("access_token", "refresh_token")
        ],
        "the session cookies": [cleo.cookies["overlap_session"], emma.cookies["overlap_session"]],
        "the app's secrets": [DEMO_CLIENT_SECRET, app_env["SECRET_KEY"], app_env["TOKEN_KEY"]],
    }
    for what, values in secrets.items():
        assert values and all(values), what
        leaked = [v for v in values if v.lower() in everything]
        assert leaked == [], f"{what} are in the logs"
