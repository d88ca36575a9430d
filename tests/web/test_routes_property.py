"""No request makes the app fail. Hypothesis sends every route of the README's table
generated paths, query strings, form bodies and headers (unicode, control characters, very
long strings, percent-encodings, path traversal, SQL and HTML fragments), signed out,
signed in and as the admin, with and without the CSRF token: never a 5xx, never a
traceback, and a POST without this session's token changes nothing.

Deterministic for CI: a fixed seed per role and no example database, so every run sends
the same requests. ``OVERLAP_FUZZ_EXAMPLES`` raises the number of examples for a long run.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlencode

import pytest
import webob
import webtest
import webtest.lint
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from models import Group, JobRun, User
from models.db import utcnow
from ops.schedules import SCHEDULES
from tests.web.test_compare import library
from web.http.session import COOKIE

FUZZ = settings(
    max_examples=int(os.environ.get("OVERLAP_FUZZ_EXAMPLES", "200")),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# A fixed seed per role: the same examples on every run, different ones for each role.
SEEDS = {"signed out": 20240601, "cleo": 20240602, "emma": 20240603}
# The README's routes, each with the query or form fields it reads; {code}, {id}, {key},
# {a}, {b}, {queue}, {actor} and {kind} are filled with generated text or a known value
# (a real group's key and member numbers, a real schedule, a real pause).
GETS = {
    "/": ("page", "sort"), "/login": ("next",), "/callback": ("code", "state", "error"),
    "/loading": ("next",), "/sync-status": (), "/compare/{code}": ("page", "sort"),
    "/api/me": (), "/api/compare/{code}": ("limit", "offset", "sort"), "/api/jobs/{id}": (),
    "/admin": ("notice", "n"), "/admin/jobs": ("status", "actor", "subject", "since", "before"),
    "/admin/jobs/{id}": ("notice",), "/healthz": (), "/metrics": (), "/api/queue/stats": (),
    "/static/{path}": (), "/with/{id}": ("page", "sort"), "/with/{id}/only-you": ("page",),
    "/artists/{code}": ("with",), "/admin/queues/{queue}": ("kind", "skip"),
    "/admin/queues/{queue}/purge": (), "/admin/dead": ("queue", "skip"),
    "/admin/dead/{queue}/all/delete": (),
    "/with/{id}/only-them": ("page",), "/with/{id}/card.png": (),
    "/compare/{code}/invite.png": (), "/groups/new": (), "/groups/{key}": ("page",),
    "/groups/{key}/pairs/{a}/{b}": ("page", "sort"), "/groups/{key}/pairs/{a}/{b}/only-you": (),
    "/groups/{key}/pairs/{a}/{b}/only-them": ("page",),
    "/api/groups/{key}": ("limit", "offset"), "/admin/schedules/{actor}/run": (),
    "/admin/schedules": (), "/admin/audit": ("before",),
}  # fmt: skip
POSTS = {
    "/logout": (), "/logout-everywhere": (), "/friend-code": (), "/refresh": (),
    "/compare": ("friend_code",), "/account/delete": (),
    "/api/jobs/{id}/cancel": (), "/admin/jobs/{id}/retry": (), "/admin/jobs/{id}/cancel": (),
    "/admin/jobs/cancel-active": (), "/admin/jobs/retry-failed": (),
    "/admin/jobs/clean": ("days",), "/admin/queues/{queue}/pause": (),
    "/admin/queues/{queue}/resume": (), "/people/{id}/remove": (),
    "/people/{id}/keep": (), "/people/{id}/invite": (),
    "/admin/queues/{queue}/messages/{id}/delete": ("kind",), "/admin/queues/{queue}/purge": (),
    "/admin/dead/{queue}/{id}/delete": (), "/admin/dead/{queue}/{id}/requeue": (),
    "/groups": ("friend_codes",), "/groups/{key}/join": (), "/groups/{key}/leave": (),
    "/admin/schedules/{actor}/run": (), "/admin/spotify/{kind}/resume": (),
}  # fmt: skip
# With a valid token these end the session (or the group membership) the next examples
# need; their refusals without one are generated like every other POST's.
ENDS_THE_SESSION = ("/logout", "/logout-everywhere", "/account/delete", "/groups/{key}/leave")
PARAMS = ("page", "sort", "limit", "offset", "next", "code", "state", "error", "status", "with",
          "actor", "subject", "since", "before", "notice", "n", "friend_code", "days",
          "kind", "skip", "queue", "csrf_token", "hx-request", "friend_codes", "")  # fmt: skip
FRAGMENTS = (
    "'; DROP TABLE users; --", "' OR '1'='1", "1 UNION SELECT password FROM users", "%' --",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "]]>", "</svg>", "&amp;",
    "../../../../etc/passwd", "..\\..\\windows\\win.ini", "/\\evil.example", "//evil.example",
    "javascript:alert(1)", "{{7*7}}", "${7*7}", "%s%s%s%n", "\r\nSet-Cookie: x=1", "\x00",
    "²", "١٢", "-1", "0", "1e309", "NaN", "9" * 30, "listeners", "-name", "failed", "1h",
    "cleaned", "bulk", "interactive", "true", "null", "[]", "{}",
)  # fmt: skip
# Sent as they are: escapes that are not UTF-8, broken, overlong, or hide a slash or a dot.
RAW = ("%B2", "%FF", "%C0%AF", "%E2%80%AE", "%", "%zz", "%00", "%0d%0a", "%2e%2e%2f",
       "%252e", "..%2f", "%5c", "%u0041", "+", "%2B")  # fmt: skip
# Numbers of the wrong shape, escaped as they are sent: digits str.isdigit accepts and int()
# refuses ("²"), other scripts' digits, signs, spaces, exponents, more digits than a column.
NUMBERS = ("%C2%B2", "%B2", "%C2%B9", "%B9", "1%B3", "%C2%B31", "%D9%A1%D9%A2", "%EF%BC%91",
           "-1", "0", "%2B1", "%201", "1e3", "0x1", "99999999999999", "1%00")  # fmt: skip
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
# Control characters (line breaks of every kind, NUL, escape) and non-ASCII letters, which
# once gave 500s: a state of "é" reached compare_digest as a str, and a friend code with a
# line break in it went into a Location header.
CRAFTED = st.text(alphabet=st.sampled_from("\r\n\t\x00\x1b\x7f\x85\u2028é€ß😀Ω"), min_size=1,
                  max_size=6)  # fmt: skip
CONTENT_TYPES = (
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "multipart/form-data", "multipart/form-data; boundary=", "text/plain; charset",
    "text/plain; charset=nope", "application/json", ";;;", "a/b; c=d; e", "",
)  # fmt: skip
BODIES = (
    b"", b"csrf_token=&friend_code=%FF%FE", b"--x\r\nbad", b"--x--\r\n",
    b'--x\r\nContent-Disposition: form-data; name="friend_code"\r\n\r\n<b>\r\n--x--\r\n',
    b'--x\r\nContent-Disposition: form-data; name="a"; filename="../../x"\r\n\r\nz\r\n--x--',
    b"\xff\xfe\x00", b"a=" + b"x" * 200_000,
)  # fmt: skip

texts = st.one_of(
    st.text(max_size=30),  # any unicode, control characters included
    st.text(alphabet=LATIN1, max_size=30),
    CRAFTED,
    st.sampled_from(FRAGMENTS),
    st.integers(-(2**70), 2**70).map(str),
    st.builds(lambda c, n: c * n, st.sampled_from("a9ü%/.<"), st.integers(100, 6000)),
)
escaped = st.one_of(
    texts.map(lambda t: quote(t, safe="")), st.sampled_from(RAW), st.sampled_from(NUMBERS)
)
header_values = st.one_of(
    st.text(alphabet=LATIN1, min_size=1, max_size=60), st.sampled_from(FRAGMENTS[:12])
)
HEADERS = ("HX-Request", "Authorization", "X-Forwarded-Proto", "Host", "Range",
           "If-Modified-Since", "Accept")  # fmt: skip


@st.composite
def requests(draw, role: str, known: dict[str, str]):
    """One request: (method, path with query, headers, body, how the token is sent)."""
    method = draw(st.sampled_from(("GET", "POST", "GET", "POST", "HEAD", "PUT", "DELETE")))
    routes = POSTS if method == "POST" else GETS
    template = draw(st.sampled_from(sorted(routes)))
    names = st.one_of(st.sampled_from(routes[template] or PARAMS), st.sampled_from(PARAMS), escaped)
    fill = st.one_of(
        escaped,
        st.sampled_from(NUMBERS),
        st.sampled_from((known["code"], known["job"], known["other_job"])),
        # A real code with control or non-ASCII characters inside it.
        st.builds(
            lambda at, extra: quote(known["code"][:at] + extra + known["code"][at:], safe=""),
            st.integers(0, 10),
            CRAFTED,
        ),
    )
    # A real group's key most of the time, so that a pair's numbers are read.
    member = st.one_of(st.sampled_from(("1", "2", "3")), fill)
    path = template.format(
        code=draw(fill), id=draw(fill), queue=draw(st.one_of(escaped, st.just("bulk"))),
        path=draw(st.one_of(escaped, st.sampled_from(("style.css", "../web/app.py",
                                                      "%2e%2e/web/app.py", "htmx.min.js")))),
        key=draw(st.one_of(st.just(known["key"]), st.just(known["key"]), fill)),
        a=draw(member), b=draw(member),
        actor=draw(st.one_of(st.just(known["actor"]), fill)),
        kind=draw(st.one_of(st.sampled_from(("api", "open")), fill)),
    )  # fmt: skip
    path = draw(st.sampled_from(("",) * 8 + ("/", "/..", "/%2e%2e", "//"))) + path
    values = st.one_of(escaped, st.sampled_from(NUMBERS))
    pairs = draw(st.lists(st.tuples(names, values), max_size=4))
    if pairs:
        path += "?" + "&".join(f"{quote(k, safe='%')}={v}" for k, v in pairs)
    # Each header present half the time: "true" (htmx's value), Latin-1 text or a fragment.
    headers = draw(
        st.fixed_dictionaries(
            {}, optional={h: st.one_of(st.just("true"), header_values) for h in HEADERS}
        )
    )
    if draw(st.integers(0, 3)) == 0:  # now and then a cookie of its own, session or not
        cookie = draw(header_values)
        headers["Cookie"] = f"{COOKIE}={cookie}" if draw(st.booleans()) else cookie
    token = draw(
        st.sampled_from(("valid", "valid", "none", "garbage", "empty", "another session's"))
    )
    garbage = draw(header_values) if token == "garbage" else None
    if method == "POST" and token == "valid" and template in ENDS_THE_SESSION:
        token = "none"
    body: dict[str, str] | bytes | None = None
    content_type = None
    if method in ("POST", "PUT"):
        if draw(st.booleans()):
            fields = st.one_of(
                st.sampled_from(routes.get(template) or PARAMS), st.sampled_from(PARAMS)
            )
            body = dict(draw(st.lists(st.tuples(fields, texts), max_size=4)))
            body.pop("csrf_token", None)
        else:
            body = draw(st.one_of(st.sampled_from(BODIES), st.binary(max_size=200)))
            content_type = draw(st.sampled_from(CONTENT_TYPES))
    return method, path, headers, body, content_type, (token, garbage)


@st.composite
def crafted_requests(draw, known: dict[str, str]):
    """A request of the README's routes with control and non-ASCII characters in every
    place the client fills: the path, each query value the route reads, each form field,
    sent with this session's token (the rare cases the general strategy seldom draws)."""
    method = draw(st.sampled_from(("GET", "POST")))
    routes = POSTS if method == "POST" else GETS
    template = draw(st.sampled_from(sorted(routes)))
    crafted = CRAFTED.map(lambda t: quote(t, safe=""))
    # Line breaks alone inside a real code: what normalizing a code forgives.
    breaks = st.text(alphabet=st.sampled_from("\r\n\t\x85\u2028"), min_size=1, max_size=3)
    spliced = st.builds(
        lambda at, extra: quote(known["code"][:at] + extra + known["code"][at:], safe=""),
        st.integers(0, 10),
        st.one_of(CRAFTED, breaks),
    )
    fill = draw(st.one_of(crafted, spliced))
    key = draw(st.sampled_from((known["key"], fill)))
    path = template.format(code=fill, id=fill, queue=fill, path=fill, key=key, a=fill,
                           b=draw(st.sampled_from(("2", fill))), actor=fill, kind=fill)  # fmt: skip
    values = {name: draw(crafted) for name in routes[template] if name != "error"}
    if method == "GET" and values:
        path += "?" + "&".join(f"{name}={value}" for name, value in values.items())
    body = None
    if method == "POST":
        body = {name: draw(CRAFTED) for name in routes[template]}
    token = "none" if template in ENDS_THE_SESSION else "valid"
    return method, path, {}, body, None, (token, None)


# Where an id is read: in the path ({id}, a group pair's {a} and {b}) or the query.
IDS_IN_QUERIES = {"/admin/jobs": "before", "/admin/audit": "before", "/artists/{code}": "with"}


@st.composite
def id_requests(draw, known: dict[str, str]):
    """A request of a route that reads an id, with this session's token, each id a number
    of the wrong shape (``NUMBERS``), a number past any column, or a known one: the real
    group's key stays, so a pair's numbers are read."""
    method = draw(st.sampled_from(("GET", "POST")))
    routes = POSTS if method == "POST" else GETS
    takes_ids = sorted(t for t in routes if "{id}" in t or "{a}" in t or t in IDS_IN_QUERIES)
    template = draw(st.sampled_from(takes_ids))
    number = st.one_of(
        st.sampled_from(NUMBERS),
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(("1", "2", "3", known["job"], "2147483647", "2147483648")),
    )
    path = template.format(
        id=draw(number), a=draw(number), b=draw(number), key=known["key"],
        code=known["artist"], queue="bulk",
    )  # fmt: skip
    if template in IDS_IN_QUERIES:
        path += f"?{IDS_IN_QUERIES[template]}={draw(number)}"
    token = "none" if template in ENDS_THE_SESSION else "valid"
    return method, path, {}, {} if method == "POST" else None, None, (token, None)


def _check(answer, what) -> None:
    text = answer.body.decode("utf-8", "replace")
    assert answer.status_int < 500, f"{what}: {answer.status}\n{text[:500]}"
    assert "Traceback" not in text and 'File "' not in text, what


def _send(app, request, known: dict[str, str]):
    """Send one generated request straight to the WSGI app (behind WSGI's lint), with the
    role's session cookie unless it brings a cookie of its own; no cookie jar learns from
    the answer, so every example starts from the same session."""
    method, path, headers, body, content_type, (token, garbage) = request
    headers = dict(headers)
    headers.setdefault("Cookie", f"{COOKIE}={known['cookie']}")
    sent = {"valid": known["mine"], "garbage": garbage, "empty": "",
            "another session's": known["theirs"]}.get(token)  # fmt: skip
    if isinstance(body, dict):
        body = urlencode({**body, **({"csrf_token": sent} if sent is not None else {})})
        body, content_type = body.encode(), "application/x-www-form-urlencoded"
    elif sent is not None and method == "POST":
        headers["X-CSRF-Token"] = sent
    wsgi = webob.Request.blank(path, method=method, headers=headers)
    wsgi.environ["REMOTE_ADDR"] = "127.0.0.1"
    if body is not None:
        wsgi.body = body
        wsgi.environ["CONTENT_TYPE"] = content_type or ""
    return wsgi.get_response(app)


@pytest.fixture
def web(app_settings, broker, db):
    """The web app with sign-in's per-address limit out of reach: every generated
    ``/callback`` from 127.0.0.1 must reach the state check, not the 429."""
    from web.app import create_app

    settings = app_settings.but(redis_namespace=broker.namespace, sign_ins_per_minute=10**6)
    return webtest.TestApp(create_app(settings), extra_environ={"REMOTE_ADDR": "127.0.0.1"})


@pytest.fixture
def world(web, signed_in_web, csrf_of, state):
    """A friend, his queued sync, a failed job, and how to become each role."""
    ben = User.sign_in("ben", "Ben", {})
    # A group of ben, cleo and emma, all joined (members 1, 2 and 3), for the pair routes.
    group = Group.start(ben, [User.sign_in(n, n.title(), {}) for n in ("cleo", "emma")])
    for member in group.members()[1:]:
        group.join(member.user)
    library(ben, {"fuzzed": 1000})  # an artist the group's members may look at
    other_job, _ = JobRun.open(message_id="m-ben", actor="update_user", args=[ben.id],
                               subject=f"user:{ben.id}", queue="interactive")  # fmt: skip
    JobRun.open(message_id="m-failed", actor="update_user", args=[99], subject="user:99",
                queue="interactive", status="failed")  # fmt: skip
    theirs = csrf_of(webtest.TestApp(web.app).get("/"))  # a real token of another session

    roles: dict[str, dict[str, str]] = {}

    def become(role: str) -> dict[str, str]:
        """Sign in as ``role`` once; its cookie, tokens and ids for every example."""
        if role in roles:
            return roles[role]
        if role != "signed out":
            signed_in_web(role)
            User.update(last_synced_at=utcnow()).execute()
        # A sign-in begun and not finished: the session expects an OAuth state, so that a
        # generated /callback compares the state it sends.
        web.get("/login")
        mine = csrf_of(web.get("/"))
        me = User.get_or_none(User.spotify_id == role)
        job = JobRun.select(JobRun.id).order_by(JobRun.id.desc()).first()
        roles[role] = {
            "cookie": web.cookies[COOKIE],
            "mine": mine,
            "theirs": theirs,
            "code": ben.friend_code if me is None or me.id != ben.id else "ZZZZZZZZZZ",
            "job": str(job.id),
            "other_job": str(other_job.id),
            "key": group.key,
            "actor": sorted(SCHEDULES)[0],
            "artist": f"{'fuzzed':0>22}",
        }
        return roles[role]

    return web, webtest.lint.middleware(web.app), become, state


def one_request(world, role: str, data) -> None:
    """Send one generated request as ``role`` and check what came back."""
    web, app, become, state = world
    known = become(role)
    request = data.draw(requests(role, known), label="request")
    method, _, headers, _, _, (token, _) = request
    # Without this session's token (or with another cookie) a POST must change nothing.
    guarded = method == "POST" and (token != "valid" or "Cookie" in headers)
    before = state() if guarded else None
    answer = _send(app, request, known)
    _check(answer, request)
    if guarded:
        assert answer.status_int in (400, 403, 404, 405, 413), (request, answer.status)
        assert state() == before, request
    if role != "signed out":  # still signed in as themselves
        me = web.get("/api/me", expect_errors=True)
        assert me.status_int == 200 and me.json["spotify_id"] == role, request


@FUZZ
@seed(SEEDS["signed out"])
@given(data=st.data())
def test_no_request_fails_for_a_signed_out_visitor(world, data):
    one_request(world, "signed out", data)


@FUZZ
@seed(SEEDS["cleo"])
@given(data=st.data())
def test_no_request_fails_for_a_signed_in_person(world, data):
    one_request(world, "cleo", data)


@FUZZ
@seed(SEEDS["emma"])
@given(data=st.data())
def test_no_request_fails_for_the_admin(world, data):
    one_request(world, "emma", data)  # the demo's admin: every dashboard action is open


@pytest.mark.parametrize("role", sorted(SEEDS))
@FUZZ
@seed(20240604)
@given(data=st.data())
def test_control_and_non_ascii_characters_in_paths_queries_and_forms_fail_nothing(
    world, role, data
):
    web, app, become, _ = world
    known = become(role)
    request = data.draw(crafted_requests(known), label="request")
    _check(_send(app, request, known), (role, request))


@pytest.mark.parametrize("role", sorted(SEEDS))
@FUZZ
@seed(20240605)
@given(data=st.data())
def test_crafted_ids_in_paths_and_queries_fail_nothing(world, role, data):
    web, app, become, _ = world
    known = become(role)
    request = data.draw(id_requests(known), label="request")
    _check(_send(app, request, known), (role, request))
