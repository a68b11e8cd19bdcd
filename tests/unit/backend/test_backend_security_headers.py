"""Every answer of the API and the console carries its security headers, set in one place
(backend/security_headers.py): no-store (an audited full view of a case was left in Chromium's
disk cache and came back with the Back button after sign-out), and Clear-Site-Data on sign-out.
"""

from __future__ import annotations

import re

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.guard import CSRF_HEADER
from backend.limits import MAX_BODY_BYTES
from backend.security_headers import API_HEADERS, CONSOLE_HEADERS
from backend.service import BackendService

NO = "AH-T0001-20261120-0001"
PASSWORD = "Correct-Horse-42"
FULL_ID = "11010519491231002X"
CLEAR = '"cache", "storage"'


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    accounts = Accounts(svc.db)
    accounts.add("sup.ma", ["supervisor"], password=PASSWORD, must_change_password=False)
    accounts.add("clerk.li", ["clerk"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def app(service):
    app = create_app(service)

    # An error no handler knows: Starlette's outermost middleware would answer its 500.
    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/boom", boom, include_in_schema=False)
    app.add_api_route("/console/boom", boom, include_in_schema=False)
    return app


def _client(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _api_session(client: TestClient, username: str) -> str:
    answer = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200
    return answer.json()["csrf_token"]


def _console_session(client: TestClient, username: str) -> None:
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def _assert_headers(answer, expected: dict[str, str], what: str) -> None:
    for name, value in expected.items():
        assert answer.headers.get(name) == value, f"{what}: {name} = {answer.headers.get(name)!r}"


def test_the_full_view_of_a_case_is_never_stored(app):
    with _client(app) as client:
        _api_session(client, "sup.ma")
        full = client.get(f"/api/applications/{NO}", params={"unmasked": "true"})
        assert full.status_code == 200 and full.json()["applicant"]["id_number"] == FULL_ID
        assert full.headers["cache-control"] == "no-store"
        _assert_headers(full, API_HEADERS, "the unmasked view")


def test_every_api_answer_is_no_store_errors_included(app, service):
    with _client(app) as client:
        # Every GET the API documents, asked by a stranger: 401 (or 422 for a bad parameter).
        paths = client.get("/openapi.json").json()["paths"]
        gets = [p for p, methods in paths.items() if p.startswith("/api") and "get" in methods]
        assert len(gets) > 10
        for path in gets:
            answer = client.get(path.replace("{application_no}", NO))
            assert answer.status_code in (401, 404, 422), path
            _assert_headers(answer, API_HEADERS, f"GET {path} -> {answer.status_code}")

        _api_session(client, "clerk.li")
        answers = {
            "200 list": client.get("/api/applications"),
            "200 case": client.get(f"/api/applications/{NO}"),
            "403 unmasked for a clerk": client.get(f"/api/applications/{NO}?unmasked=true"),
            "404 unknown case": client.get("/api/applications/AH-T0001-20261120-9999"),
            "404 no such route": client.get("/api/nowhere"),
            "405 wrong method": client.put("/api/applications"),
            "422 bad parameter": client.get("/api/applications", params={"limit": 0}),
            "413 body too large": client.post(
                "/api/session",
                content=b"x" * (MAX_BODY_BYTES + 1),
                headers={"Content-Type": "application/json"},
            ),
            "500 a bug": client.get("/api/boom"),
        }
        for what, answer in answers.items():
            assert answer.status_code == int(what[:3]), (what, answer.status_code, answer.text)
            _assert_headers(answer, API_HEADERS, what)
        assert answers["500 a bug"].text == "Internal Server Error"  # nothing of the bug itself


def test_every_console_answer_carries_the_console_headers(app):
    with _client(app) as client:
        answers = {
            "303 not signed in": client.get("/console/queue", follow_redirects=False),
            "200 sign-in page": client.get("/console/login"),
            "401 post not signed in": client.post("/console/applications/x/act"),
        }
        _console_session(client, "sup.ma")
        case = client.get(f"/console/applications/{NO}")
        answers |= {
            "200 case page": case,
            "200 full view": client.get(f"/console/applications/{NO}", params={"unmasked": "true"}),
            "303 home": client.get("/console/", follow_redirects=False),
            "404 page": client.get("/console/nowhere"),
            "404 scan": client.get(f"/console/applications/{NO}/materials/999/pages/1.png"),
            "403 page": client.get("/console/catalog/items/new"),
            "500 a bug": client.get("/console/boom"),
        }
        for what, answer in answers.items():
            assert answer.status_code == int(what[:3]), (what, answer.status_code)
            _assert_headers(answer, CONSOLE_HEADERS, what)
            assert "clear-site-data" not in answer.headers, what


def test_the_consoles_own_script_and_style_may_be_kept_but_are_asked_for_again(app):
    """Not personal data, the same for everyone: stored, but revalidated before each use."""
    with _client(app) as client:
        css = client.get("/console/static/console.css")
        assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
        assert css.headers["x-content-type-options"] == "nosniff"
        again = client.get(
            "/console/static/console.css", headers={"If-None-Match": css.headers["etag"]}
        )
        assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
        assert client.get("/console/static/nothing.js").headers["cache-control"] == "no-cache"


def test_signing_out_of_the_console_clears_the_sites_cache_and_storage(app):
    with _client(app) as client:
        _console_session(client, "sup.ma")
        page = client.get("/console/queue").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        out = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert out.headers["clear-site-data"] == CLEAR
        _assert_headers(out, CONSOLE_HEADERS, "sign-out")
        assert client.get("/console/queue", follow_redirects=False).status_code == 303
        # Signed out already (the session ended elsewhere): the browser is still told to forget.
        again = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert again.status_code == 401 and again.headers["clear-site-data"] == CLEAR


def test_signing_out_of_the_api_clears_the_sites_cache_and_storage(app):
    with _client(app) as client:
        csrf = _api_session(client, "sup.ma")
        signed_in = client.get("/api/session")
        assert signed_in.status_code == 200 and "clear-site-data" not in signed_in.headers
        out = client.delete("/api/session", headers={CSRF_HEADER: csrf})
        assert out.status_code == 200 and out.json()["signed_out"] is True
        assert out.headers["clear-site-data"] == CLEAR
        _assert_headers(out, API_HEADERS, "sign-out")
        assert client.get("/api/session").status_code == 401


def test_paths_outside_the_api_and_the_console_are_left_alone(app):
    with _client(app) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and "content-security-policy" not in health.headers
        # Not a prefix match on the text: /apixyz and /consoles are neither the API nor the console.
        assert "cache-control" not in client.get("/apixyz").headers
        assert "cache-control" not in client.get("/consoles").headers
