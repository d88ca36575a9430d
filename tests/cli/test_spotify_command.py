"""``overlap spotify``: today's requests and pauses, and ending a quota pause by hand."""

from __future__ import annotations

from cli.main import main
from config.redis_ref import RedisRef
from models import AuditEntry
from spotify.gate import SpotifyGate


def test_overlap_spotify_resume_ends_the_pause_and_is_audited(
    db, cli_env, broker, app_settings, capsys
):
    gate = SpotifyGate(RedisRef.of(broker), app_settings)
    gate.pause("api", 6 * 3600)
    gate.before_request("open")

    assert main(["spotify", "status"]) == 0
    status = capsys.readouterr().out
    assert "api: 0 requests today (UTC), paused until" in status
    assert "open: 1 requests today (UTC), running" in status

    assert main(["spotify", "resume"]) == 0

    assert "api: pause ended" in capsys.readouterr().out
    assert gate.paused_until("api") is None
    assert ("resume", "spotify:api", 1) in [
        (e.action, e.target, e.count) for e in AuditEntry.select()
    ]
