"""Bad input gets a clear answer and changes nothing: friend codes, pages, sorts and ids of
every wrong shape, on the forms, the JSON API, the dashboard and the command line, each get
a 4xx with one sentence (a JSON error, or one line on stderr with a non-zero exit) and
leave every table and every queue as they were."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from models import JobRun, User
from models.db import utcnow
from tests.web.comparing import opened
from web.http import services as app_services

# Friend codes, ids, pages and names of every wrong shape: empty, very long, unicode
# (including digits that str.isdigit accepts and int() refuses), control characters, SQL
# and HTML fragments, path traversal and percent-encodings.
WRONG = (
    "",
    " ",
    "-1",
    "1.5",
    "1e3",
    "0x1F",
    "+7",
    "²",
    "١٢",
    "9" * 40,
    "a" * 5000,
    "ü" * 300,
    "日本語のコード",
    "Zoë 🎵",
    "\u202e0OIL",
    "\x00",
    "a\x00b",
    "\t\r\n",
    "'; DROP TABLE users; --",
    "' OR '1'='1",
    "1; DELETE FROM job_runs",
    "1 UNION SELECT * FROM users",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "../../etc/passwd",
    "..%2f..%2f",
    "%00",
    "null",
    "[]",
)
# Query values sent as they are: bytes that are not UTF-8 (Bottle reads a query as Latin-1,
# so "%B2" arrives as "²"), broken and overlong escapes, a NUL.
RAW = ("%B2", "%B9%B2", "%FF", "%C0%AF", "%", "%zz", "%00", "1%00", "%2B1", "1%20")
# An error page's sentence, or the friend-code form's error under its field.
MESSAGE = re.compile(
    r'<section class="message">\s*<h1>[^<]+</h1>\s*<p>([^<]+)</p>'
    r'|<p class="field-error"[^>]*>([^<]+)</p>'
)


def refused_plainly(response, statuses: tuple[int, ...] = ()) -> None:
    """A 4xx (one of ``statuses`` when given) that says why in a sentence, with no echo."""
    where = f"{response.request.method} {response.request.environ['PATH_INFO'][:60]!r}"
    assert 400 <= response.status_int < 500, f"{where}: {response.status}"
    assert not statuses or response.status_int in statuses, f"{where}: {response.status}"
    assert "Traceback" not in response.text
    assert "<script>alert" not in response.text and "<img src=x" not in response.text
    if response.content_type == "application/json":
        error = response.json["error"]
        assert isinstance(error, str) and 0 < len(error) < 200, f"{where}: {response.json}"
    else:
        found = MESSAGE.search(response.text)
        assert found, f"{where}: no message in {response.text[:300]!r}"
        sentence = (found.group(1) or found.group(2)).strip()
        assert sentence.endswith(".") and len(sentence) < 200, f"{where}: {sentence!r}"


def in_path(raw: str) -> str:
    return quote(raw, safe="")


def a_whole_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit()


@pytest.fixture
def forget_guesses(web):
    """Clear the wrong-code counts, so every wrong code gets its own answer, not the 429."""
    services = app_services.of(web.app)
    client, namespace = services.redis, services.settings.redis_namespace

    def forget() -> None:
        for key in client.scan_iter(f"{namespace}:guesses:*"):
            client.delete(key)

    return forget


@pytest.fixture
def ben() -> User:
    """A friend who signed in but was never synced: a comparison with him asks for a sync."""
    return User.sign_in("ben", "Ben", {})


def test_wrong_friend_codes_on_the_form_and_in_the_address_are_refused_and_change_nothing(
    web, signed_in_web, ben, state, csrf_of, forget_guesses
):
    signed_in_web("cleo")
    token = csrf_of(web.get("/"))
    before = state()

    for bad in (*WRONG, "ZZZZZZZZZZ", "ZZZZZ-ZZZZZ"):
        forget_guesses()
        form = web.post("/compare", {"friend_code": bad, "csrf_token": token}, expect_errors=True)
        refused_plainly(form, (400, 404))
        for headers in ({}, {"HX-Request": "true"}):
            page = web.get(f"/compare/{in_path(bad)}", headers=headers, expect_errors=True)
            refused_plainly(page, (400, 404))
            api = web.get(f"/api/compare/{in_path(bad)}", expect_errors=True)
            refused_plainly(api, (400, 404))
            assert api.content_type == "application/json"

    assert state() == before


def test_too_many_wrong_codes_are_a_429_that_says_when_to_try_again(
    web, signed_in_web, state, csrf_of
):
    signed_in_web("cleo")
    token = csrf_of(web.get("/"))
    before = state()

    answers = [
        web.post("/compare", {"friend_code": bad, "csrf_token": token}, expect_errors=True)
        for bad in WRONG
    ]

    refused_plainly(answers[-1], (429,))
    assert "Wait ten minutes" in answers[-1].text
    assert state() == before


def test_wrong_pages_and_sorts_of_a_comparison_are_refused_before_any_sync_is_asked_for(
    web, signed_in_web, ben, state, forget_guesses
):
    signed_in_web("cleo")
    comparison = opened(web, ben)
    before = state()  # Ben was never synced: a comparison that renders asks for his sync

    # An empty page or sort is the default one.
    for bad in (*(in_path(w) for w in WRONG[1:] if not a_whole_number(w)), *RAW):
        for headers in ({}, {"HX-Request": "true"}):
            for name in ("page", "sort"):
                answer = web.get(f"{comparison}?{name}={bad}", headers=headers, expect_errors=True)
                refused_plainly(answer, (400,))
        for name in ("page", "sort"):
            refused_plainly(web.get(f"/?{name}={bad}", expect_errors=True), (400,))

    assert state() == before


def test_wrong_limits_offsets_and_sorts_on_the_json_api_are_json_errors(
    web, signed_in_web, ben, state
):
    signed_in_web("cleo")
    opened(web, ben)
    before = state()

    # An empty limit, offset or sort is the default one.
    for bad in (*(in_path(w) for w in WRONG[1:] if not a_whole_number(w)), *RAW):
        for name in ("limit", "offset", "sort"):
            answer = web.get(f"/api/compare/{ben.friend_code}?{name}={bad}", expect_errors=True)
            refused_plainly(answer, (400,))
            assert answer.content_type == "application/json"

    assert state() == before


def test_another_users_job_and_wrong_job_ids_are_404s_and_cancel_nothing(
    web, signed_in_web, ben, state, csrf_of
):
    bens_job, _ = JobRun.open(message_id="m-ben", actor="update_user", args=[ben.id],
                              subject=f"user:{ben.id}", queue="interactive")  # fmt: skip
    signed_in_web("cleo")
    headers = {"X-CSRF-Token": csrf_of(web.get("/"))}
    before = state()

    for bad in (str(bens_job.id), "99999999", *WRONG):
        shown = web.get(f"/api/jobs/{in_path(bad)}", expect_errors=True)
        refused_plainly(shown, (404,))
        cancel = web.post(f"/api/jobs/{in_path(bad)}/cancel", headers=headers, expect_errors=True)
        refused_plainly(cancel, (404, 405))

    assert state() == before
    assert JobRun.get_by_id(bens_job.id).status == "queued"


def test_wrong_filters_ids_days_and_queues_on_the_dashboard_are_refused_and_change_nothing(
    web, signed_in_web, state, csrf_of
):
    signed_in_web("emma")  # the demo's admin
    JobRun.open(message_id="m-failed", actor="update_user", args=[7], subject="user:7",
                queue="interactive", status="failed")  # fmt: skip
    token = csrf_of(web.get("/admin"))
    before = state()

    for bad in (*(in_path(w) for w in WRONG if w.strip() and not a_whole_number(w)), *RAW):
        for name in ("status", "since", "before"):
            refused_plainly(web.get(f"/admin/jobs?{name}={bad}", expect_errors=True), (400,))
        notice = web.get(f"/admin?notice=cleaned&n={bad}")
        assert "0 finished job runs were removed" in notice.text
    for bad in WRONG:
        for name in ("actor", "subject"):
            answer = web.get(f"/admin/jobs?{name}={in_path(bad)}", expect_errors=True)
            if answer.status_int == 200:  # any short printable text is a search
                assert not bad.strip() or "No job runs match" in answer.text, (name, bad)
            else:
                refused_plainly(answer, (400,))
        refused_plainly(web.get(f"/admin/jobs/{in_path(bad)}", expect_errors=True), (404,))
        for action in ("retry", "cancel"):
            answer = web.post(
                f"/admin/jobs/{in_path(bad)}/{action}", {"csrf_token": token}, expect_errors=True
            )
            refused_plainly(answer, (404, 405))
        answer = web.post(
            "/admin/jobs/clean", {"csrf_token": token, "days": bad}, expect_errors=True
        )
        refused_plainly(answer, (400,))
        answer = web.post(
            f"/admin/queues/{in_path(bad)}/pause", {"csrf_token": token}, expect_errors=True
        )
        refused_plainly(answer, (404, 405))

    assert state() == before


def test_a_form_body_bottle_cannot_read_is_a_400_or_413_and_changes_nothing(
    web, signed_in_web, state, csrf_of
):
    import webtest

    signed_in_web("cleo")
    token = csrf_of(web.get("/"))
    before = state()
    bodies = [
        ("text/plain; charset", b"friend_code=x", 400),  # a parameter without "="
        # No route takes multipart: refused unread, broken or not.
        ("multipart/form-data; boundary=x", b"--x\r\nbroken", 413),
        ("multipart/form-data", b"--x--", 413),  # no boundary
        ('multipart/form-data; boundary=x', b'--x\r\nContent-Disposition: form-data; '
         b'name="\x00"\r\n\r\nv\r\n--x--\r\n', 413),  # a NUL in a field's name
        ("application/x-www-form-urlencoded", b"friend_code=" + b"x" * 200_000, 413),
    ]  # fmt: skip

    for path in ("/compare", "/refresh", "/api/jobs/1/cancel"):
        for content_type, body, status in bodies:
            for headers in ({}, {"X-CSRF-Token": token}):
                request = webtest.TestRequest.blank(path, method="POST", headers=headers)
                request.body, request.environ["CONTENT_TYPE"] = body, content_type
                answer = web.do_request(request, status=None, expect_errors=True)
                refused_plainly(answer, (status,))

    assert state() == before


def test_a_metrics_token_of_any_bytes_is_a_401(web, app_settings, broker):
    import webtest

    from web.app import create_app

    guarded = webtest.TestApp(
        create_app(app_settings.but(redis_namespace=broker.namespace, metrics_token="s3cret"))
    )
    for given in ("Bearer é", "Bearer \x80\xff", "Bearer " + "x" * 5000, "bearer", "Basic é"):
        answer = guarded.get("/metrics", headers={"Authorization": given}, expect_errors=True)
        assert answer.status_int == 401, (given, answer.status)
    assert guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_int == 200


def test_a_next_path_elsewhere_or_with_a_line_break_goes_home_instead(web, signed_in_web):
    signed_in_web("cleo")
    User.update(last_synced_at=utcnow()).execute()
    JobRun.update(status="succeeded").execute()  # the first sync is done: /loading moves on

    for bad in ("/%0d%0aSet-Cookie:%20x=1", "/%5Cevil.example", "/%5C%5Cevil.example",
                "//evil.example", "https://evil.example", "/%00", "/" + "a" * 300):  # fmt: skip
        for headers, name in (({}, "Location"), ({"HX-Request": "true"}, "HX-Redirect")):
            answer = web.get(f"/loading?next={bad}", headers=headers)
            assert answer.headers[name] in ("/", "http://localhost/"), (bad, answer.headers)


@pytest.mark.parametrize(
    "command",
    [
        ["sync-user"],
        ["sync-artist"],
        ["jobs", "show"],
        ["jobs", "cancel"],
        ["jobs", "retry"],
        ["queues", "pause"],
        ["queues", "resume"],
    ],
    ids=" ".join,
)
def test_wrong_ids_on_the_command_line_are_one_line_and_change_nothing(
    db, cli_env, state, capsys, command
):
    from cli.main import main

    cleo = User.sign_in("cleo", "Cléo", {})
    JobRun.open(message_id="m-cli", actor="update_user", args=[cleo.id],
                subject=f"user:{cleo.id}", queue="interactive", status="failed")  # fmt: skip
    User.update(last_synced_at=utcnow()).execute()
    before = state()

    # A process's arguments cannot hold a NUL byte; everything else can reach the command.
    for bad in (*(w for w in WRONG if "\x00" not in w), "-rf", "--", "99999999999"):
        try:
            code = main([*command, bad])
        except SystemExit as exit:  # argparse refuses an argument that looks like an option
            code = exit.code
        err = capsys.readouterr().err
        assert code in (1, 2), (command, bad, code)
        assert err.startswith("overlap") and len(err.strip().splitlines()) == 1, (bad, err)

    assert state() == before
