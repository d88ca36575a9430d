"""The one logging setup: each line carries the UTC time, the level, the role and the
context bound where it was written, as text or as JSON, masked and on one line; and the
settings that choose the format and the level."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys

import pytest

from config import logs
from config.settings import Settings, SettingsError


def record(message: str, *args: object, name: str = "overlap.test", exc_info=None):
    return logging.getLogger(name).makeRecord(
        name, logging.WARNING, __file__, 1, message, args, exc_info
    )


def as_json(settings: Settings, rec: logging.LogRecord, role: str = "worker") -> dict:
    return json.loads(logs.formatter(settings.but(log_format="json"), role).format(rec))


def test_a_json_line_has_the_utc_time_the_level_the_role_and_the_bound_context(settings):
    token = logs.begin(request_id="r-1", user_id=7)
    try:
        line = as_json(settings, record("sent %d", 3))
    finally:
        logs._context.reset(token)

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line | {"time": None} == {
        "time": None,
        "level": "WARNING",
        "role": "worker",
        "logger": "overlap.test",
        "message": "sent 3",
        "request_id": "r-1",
        "user_id": "7",
    }


def test_a_new_context_drops_the_fields_of_the_previous_one(settings):
    logs.begin(message_id="m-1", actor="update_user", job_id=4)
    logs.bind(user_id=9)
    assert logs.current() == {
        "message_id": "m-1", "actor": "update_user", "job_id": "4", "user_id": "9"
    }  # fmt: skip
    logs.begin(request_id="r-2")
    assert "job_id" not in as_json(settings, record("x")) and logs.current() == {
        "request_id": "r-2"
    }
    logs.begin()


def test_a_text_line_reads_time_level_role_logger_message_then_the_context(settings):
    logs.begin(request_id="r-3")
    try:
        line = logs.formatter(settings, "web").format(record("GET /compare/%s", "PQJ6745B"))
    finally:
        logs.begin()

    assert re.fullmatch(
        r"\S+Z WARNING web       overlap\.test: GET /compare/\*\*\*  request_id=r-3", line
    ), line


def test_a_traceback_is_masked_and_a_json_line_stays_one_line(settings):
    try:
        raise ValueError("refused code=AQBsecret")
    except ValueError:
        rec = record("failed", exc_info=sys.exc_info())

    text = logs.formatter(settings.but(log_format="json"), "cli").format(rec)

    assert "\n" not in text and "AQBsecret" not in text
    assert "ValueError: refused code=***" in json.loads(text)["error"]


def test_an_access_line_has_its_request_as_fields_masked(settings):
    atoms = {
        "h": "10.0.0.9", "m": "GET", "U": "/callback", "q": "code=AQB1&state=s", "s": "303",
        "M": 12, "{x-request-id}o": "edge-1", "r": "GET /callback?code=AQB1&state=s HTTP/1.1",
        "b": "0", "f": "-", "a": "curl",
    }  # fmt: skip
    rec = record(logs.ACCESS_LOG_FORMAT, atoms, name="gunicorn.access")

    line = as_json(settings, rec, role="web")

    assert {k: line[k] for k in ("method", "path", "status", "duration_ms", "client")} == {
        "method": "GET", "path": "/callback?code=***&state=s", "status": 303,
        "duration_ms": 12, "client": "10.0.0.9",
    }  # fmt: skip
    assert line["request_id"] == "edge-1" and "AQB1" not in line["message"]


def test_configure_sends_every_line_to_stderr_at_the_level_and_never_peewee_debug(
    settings, monkeypatch
):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure(settings.but(log_format="json", log_level="DEBUG"), "scheduler")
        logging.getLogger("overlap.test").debug("shown")
        logging.getLogger("peewee").debug("('SELECT ...', ['PQJ6745B'])")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])

    lines = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert [(line["role"], line["message"]) for line in lines] == [("scheduler", "shown")]
    assert logs.configured_role() == "scheduler"


def test_gunicorn_s_loggers_go_through_the_same_formatter(settings, monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(logs.dict_config(settings.but(log_format="json"), "web"))
        logging.getLogger("gunicorn.error").info("Booting worker with pid: 1")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])

    assert json.loads(stderr.getvalue())["role"] == "web"


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, ("text", "INFO")), ({"LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"}, ("json", "DEBUG"))],
)
def test_log_format_and_level_are_read_with_their_defaults(tmp_path, env, expected):
    settings = Settings.from_env({"OVERLAP_VAR_DIR": str(tmp_path), **env}, read_dotenv=False)
    assert (settings.log_format, settings.log_level) == expected


@pytest.mark.parametrize(("name", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")])
def test_a_log_setting_the_app_cannot_use_is_refused_by_name(tmp_path, name, value):
    with pytest.raises(SettingsError, match=f"{name} must be one of .*'{value}'"):
        Settings.from_env({"OVERLAP_VAR_DIR": str(tmp_path), name: value}, read_dotenv=False)
