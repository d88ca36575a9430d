"""Who may call a route: a signed-out request gets each kind of route's own answer (a page
sends to sign-in, a fragment or form says 401, the JSON API gives 401 JSON, the dashboard
sends to sign-in or refuses), and a signed-in one reaches the route as its person."""

from __future__ import annotations

import json

from models import JobRun, User

ADMIN = "emma"  # the demo's admin
NOT_ADMIN = "cleo"

# A signed-out request to each route: (status, Location or None, words the body holds).
# {code} is a friend code that exists.
SIGNED_OUT = {
    ("GET", "/"): (200, None, "Sign in with Spotify"),
    ("GET", "/sync-status"): (401, None, "Sign in to see your sync."),
    ("GET", "/loading"): (303, "/login", ""),
    ("POST", "/refresh"): (303, "/login", ""),
    ("POST", "/friend-code"): (303, "/login", ""),
    ("POST", "/people/1/remove"): (303, "/login", ""),
    ("POST", "/people/1/keep"): (303, "/login", ""),
    ("GET", "/with/1"): (303, "/login?next=/with/1", ""),
    ("GET", "/with/1/only-you"): (303, "/login?next=/with/1", ""),
    # The share card: the same 404 as for no comparison, never a sign-in (a preview bot).
    ("GET", "/with/1/card.png"): (404, None, "There is no comparison here."),
    ("POST", "/logout-everywhere"): (303, "/login", ""),
    ("POST", "/account/delete"): (401, None, "You are not signed in."),
    ("POST", "/compare"): (303, "/login", ""),
    # A share link welcomes the signed-out friend before the sign-in (no library shown).
    ("GET", "/compare/{code}"): (200, None, "Ben wants to compare music with you"),
    ("GET", "/artists/artist1"): (303, "/login", ""),
    ("GET", "/groups/new"): (303, "/login", ""),
    ("POST", "/groups"): (303, "/login", ""),
    ("GET", "/groups/g1"): (303, "/login", ""),
    ("POST", "/groups/g1/join"): (303, "/login", ""),
    ("POST", "/groups/g1/leave"): (303, "/login", ""),
    ("GET", "/groups/g1/pairs/1/2"): (303, "/login", ""),
    ("GET", "/groups/g1/pairs/1/2/only-you"): (303, "/login", ""),
    ("GET", "/api/groups/g1"): (401, None, '{"error": "not signed in"}'),
    ("GET", "/api/me"): (401, None, '{"error": "not signed in"}'),
    ("GET", "/api/compare/{code}"): (401, None, '{"error": "not signed in"}'),
    ("GET", "/api/jobs/1"): (401, None, '{"error": "not signed in"}'),
    ("POST", "/api/jobs/1/cancel"): (401, None, '{"error": "not signed in"}'),
    ("GET", "/api/queue/stats"): (401, None, '{"error": "not signed in"}'),
    ("GET", "/metrics"): (401, None, "Sign in as an admin"),
    ("GET", "/admin"): (303, "/login?next=%2Fadmin", ""),
    ("GET", "/admin/jobs"): (303, "/login?next=%2Fadmin%2Fjobs", ""),
    ("GET", "/admin/jobs/1"): (303, "/login?next=%2Fadmin%2Fjobs%2F1", ""),
    ("POST", "/admin/jobs/1/retry"): (403, None, "Only the app"),
    ("POST", "/admin/jobs/1/cancel"): (403, None, "Only the app"),
    ("POST", "/admin/jobs/cancel-active"): (403, None, "Only the app"),
    ("POST", "/admin/jobs/retry-failed"): (403, None, "Only the app"),
    ("POST", "/admin/jobs/clean"): (403, None, "Only the app"),
    ("POST", "/admin/queues/bulk/pause"): (403, None, "Only the app"),
    ("POST", "/admin/spotify/api/resume"): (403, None, "Only the app"),
    ("GET", "/admin/jobs/cancel-active"): (303, "/login?next=%2Fadmin%2Fjobs%2Fcancel-active", ""),
    ("GET", "/admin/jobs/retry-failed"): (303, "/login?next=%2Fadmin%2Fjobs%2Fretry-failed", ""),
    ("GET", "/admin/dead"): (303, "/login?next=%2Fadmin%2Fdead", ""),
    ("GET", "/admin/dead/bulk/all/delete"): (
        303,
        "/login?next=%2Fadmin%2Fdead%2Fbulk%2Fall%2Fdelete",
        "",
    ),
    ("POST", "/admin/dead/bulk/all/requeue"): (403, None, "Only the app"),
    ("GET", "/admin/schedules"): (303, "/login?next=%2Fadmin%2Fschedules", ""),
    ("POST", "/admin/schedules/recover/run"): (403, None, "Only the app"),
    ("GET", "/admin/schedules/recover/run"): (
        303,
        "/login?next=%2Fadmin%2Fschedules%2Frecover%2Frun",
        "",
    ),
    ("GET", "/admin/queues/bulk"): (303, "/login?next=%2Fadmin%2Fqueues%2Fbulk", ""),
    ("GET", "/admin/queues/bulk/purge"): (303, "/login?next=%2Fadmin%2Fqueues%2Fbulk%2Fpurge", ""),
    ("POST", "/admin/queues/bulk/purge"): (403, None, "Only the app"),
    ("POST", "/admin/queues/bulk/messages/x/delete"): (403, None, "Only the app"),
    ("GET", "/admin/audit"): (303, "/login?next=%2Fadmin%2Faudit", ""),
}
# Routes anyone may call, signed in or not.
PUBLIC = {
    ("GET", "/login"),
    ("GET", "/callback"),
    ("POST", "/logout"),
    ("GET", "/static/<path:path>"),
    ("GET", "/favicon.ico"),
    ("GET", "/robots.txt"),
    ("GET", "/healthz"),
    # The welcome page's preview picture, which chats fetch signed out.
    ("GET", "/compare/<code>/invite.png"),
}
# How each route of SIGNED_OUT is written in the app's route table.
RULES = {
    "/people/1/remove": "/people/<other_id>/<action:re:remove|keep|invite>",
    "/people/1/keep": "/people/<other_id>/<action:re:remove|keep|invite>",
    "/with/1": "/with/<person>",
    "/with/1/only-you": "/with/<person>/only-<side:re:you|them>",
    "/with/1/card.png": "/with/<person>/card.png",
    "/artists/artist1": "/artists/<spotify_id>",
    "/groups/g1": "/groups/<key>",
    "/groups/g1/join": "/groups/<key>/<act:re:join|leave>",
    "/groups/g1/leave": "/groups/<key>/<act:re:join|leave>",
    "/groups/g1/pairs/1/2": "/groups/<key>/pairs/<a>/<b>",
    "/groups/g1/pairs/1/2/only-you": "/groups/<key>/pairs/<a>/<b>/only-<side:re:you|them>",
    "/api/groups/g1": "/api/groups/<key>",
    "/compare/{code}": "/compare/<code>",
    "/api/compare/{code}": "/api/compare/<code>",
    "/api/jobs/1": "/api/jobs/<job_id>",
    "/api/jobs/1/cancel": "/api/jobs/<job_id>/cancel",
    "/admin/jobs/1": "/admin/jobs/<job_id>",
    "/admin/jobs/1/retry": "/admin/jobs/<job_id>/retry",
    "/admin/jobs/1/cancel": "/admin/jobs/<job_id>/cancel",
    "/admin/queues/bulk/pause": "/admin/queues/<queue>/<action:re:pause|resume>",
    "/admin/spotify/api/resume": "/admin/spotify/<kind:re:api|open>/resume",
    "/admin/dead/bulk/all/delete": "/admin/dead/<queue>/all/<action:re:requeue|delete>",
    "/admin/dead/bulk/all/requeue": "/admin/dead/<queue>/<which>/<action:re:requeue|delete>",
    "/admin/schedules/recover/run": "/admin/schedules/<actor>/run",
    "/admin/queues/bulk": "/admin/queues/<queue>",
    "/admin/queues/bulk/purge": "/admin/queues/<queue>/purge",
    "/admin/queues/bulk/messages/x/delete": "/admin/queues/<queue>/messages/<broker_id>/delete",
}


def test_every_route_is_either_public_or_has_its_signed_out_answer_here(web):
    routes = {(route.method, route.rule) for route in web.app.routes}
    listed = {(method, RULES.get(path, path)) for method, path in SIGNED_OUT}

    assert routes == listed | PUBLIC


def test_a_signed_out_request_gets_each_kind_of_routes_own_answer(web, csrf_of):
    friend = User.sign_in("ben", "Ben", {})
    token = csrf_of(web.get("/"))
    runs_before = JobRun.select().count()

    for (method, path), (status, location, words) in SIGNED_OUT.items():
        url = path.format(code=friend.friend_code)
        if method == "GET":
            response = web.get(url, expect_errors=True)
        else:
            form = {"csrf_token": token, "friend_code": friend.friend_code, "days": "1"}
            response = web.post(url, form, expect_errors=True)

        assert response.status_int == status, url
        if location is None:
            assert "Location" not in response.headers, url
        else:
            assert response.headers["Location"].endswith(location.format(code=friend.friend_code))
        assert words in response.text, url

    # Nothing a signed-out request asked for was done.
    assert JobRun.select().count() == runs_before
    assert User.get_or_none(User.id == friend.id) is not None


def test_a_signed_out_api_answer_is_json_that_says_so(web):
    response = web.get("/api/me", expect_errors=True)

    assert response.content_type == "application/json"
    assert json.loads(response.text) == {"error": "not signed in"}


def test_a_code_that_cannot_be_one_signs_in_and_goes_home(web):
    response = web.get("/compare/not-a-code!", expect_errors=True)

    assert response.status_int == 303
    assert response.headers["Location"].endswith("/login?next=/")


def test_a_signed_in_request_reaches_the_route_as_its_person(web, signed_in_web):
    signed_in_web(NOT_ADMIN)

    me = web.get("/api/me").json
    status = web.get("/sync-status")
    stats = web.get("/api/queue/stats", expect_errors=True)
    dashboard = web.get("/admin", expect_errors=True)

    assert me["spotify_id"] == NOT_ADMIN
    assert status.status_int == 200 and 'id="sync-status"' in status.text
    assert stats.status_int == 403  # signed in, but not an admin
    assert dashboard.status_int == 403 and "Only the app" in dashboard.text


def test_an_admin_gets_through_the_dashboards_guard(web, signed_in_web):
    signed_in_web(ADMIN)

    assert web.get("/admin").status_int == 200
    assert web.get("/api/queue/stats").status_int == 200
