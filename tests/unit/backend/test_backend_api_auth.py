"""Sign-in, sessions, CSRF, tokens, throttling and roles on the real API (TestClient, SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.auth.guard import CSRF_HEADER, SESSION_COOKIE, Auth
from backend.auth.sessions import Sessions
from backend.models import StaffAccount, StaffAction, StaffApiToken, StaffSession
from backend.service import BackendService

NO = "AH-T0001-20261120-0001"
PASSWORD = "Correct-Horse-42"
# Routes open without sign-in, each for a stated reason (healthz names no person or case).
PUBLIC = {("post", "/api/session"), ("get", "/healthz")}


class Clock:
    """Real time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    yield svc
    svc.stop()


@pytest.fixture
def accounts(service, clock):
    return Accounts(service.db, clock)


@pytest.fixture
def client(service, accounts, clock):
    auth = Auth(accounts, Sessions(service.db, clock), secure_cookies=False)
    with TestClient(create_app(service, auth)) as c:
        yield c


def _login(client, username, password=PASSWORD):
    return client.post("/api/session", json={"username": username, "password": password})


def _clerk(accounts, name="clerk.li", must_change=False):
    accounts.add(name, ["clerk"], password=PASSWORD, must_change_password=must_change)


def _fill(path: str) -> str:
    return path.replace("{application_no}", NO)


def test_every_route_in_the_openapi_document_answers_401_without_sign_in(client):
    routes = client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, methods in routes.items():
        for method in methods:
            if (method, path) in PUBLIC:
                continue
            r = client.request(method.upper(), _fill(path), json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 15
    bad_token = client.get("/api/applications", headers=bearer("ahs_not-a-real-token"))
    assert bad_token.status_code == 401


def test_a_session_reads_with_the_cookie_and_writes_only_with_its_csrf_token(client, accounts):
    _clerk(accounts)
    r = _login(client, "clerk.li")
    assert r.status_code == 200 and r.json()["roles"] == ["clerk"]
    csrf = r.json()["csrf_token"]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie

    assert client.get("/api/applications").status_code == 200
    no_csrf = client.post(f"/api/applications/{NO}/accept", json={})
    assert no_csrf.status_code == 403 and no_csrf.json()["reason"] == "csrf"
    wrong = client.post(f"/api/applications/{NO}/accept", json={}, headers={CSRF_HEADER: "x"})
    assert wrong.status_code == 403
    ok = client.post(f"/api/applications/{NO}/accept", json={}, headers={CSRF_HEADER: csrf})
    assert ok.status_code == 200 and ok.json()["history"][-1]["actor"] == "clerk.li"

    assert client.request("DELETE", "/api/session", headers={CSRF_HEADER: csrf}).status_code == 200
    assert client.get("/api/applications").status_code == 401


def test_the_session_ends_after_idle_time_and_after_the_working_day(client, accounts, clock):
    _clerk(accounts)
    _login(client, "clerk.li")
    clock.offset += timedelta(minutes=29)
    assert client.get("/api/session").status_code == 200
    clock.offset += timedelta(minutes=31)
    assert client.get("/api/session").status_code == 401

    _login(client, "clerk.li")
    for _ in range(30):  # active all day, never idle for long
        clock.offset += timedelta(minutes=29)
        if client.get("/api/session").status_code != 200:
            break
    assert client.get("/api/session").status_code == 401
    assert clock.offset < timedelta(hours=11, minutes=30)


def test_the_initial_password_must_be_changed_before_anything_else(client, accounts):
    _clerk(accounts, must_change=True)
    r = _login(client, "clerk.li")
    assert r.json()["must_change_password"] is True
    csrf = {CSRF_HEADER: r.json()["csrf_token"]}
    refused = client.get("/api/applications")
    assert refused.status_code == 403 and refused.json()["reason"] == "password_change_required"

    change = {"current_password": PASSWORD, "new_password": "short"}
    weak = client.post("/api/session/password", json=change, headers=csrf)
    assert weak.status_code == 422 and "at least 10" in weak.json()["detail"]
    change["new_password"] = "clerk.li-2026-ok"
    assert client.post("/api/session/password", json=change, headers=csrf).status_code == 422
    change["new_password"] = "Blue-Lantern-77"
    r = client.post("/api/session/password", json=change, headers=csrf)
    assert r.status_code == 200 and r.json()["must_change_password"] is False
    assert client.get("/api/applications").status_code == 200
    assert _login(client, "clerk.li", "Blue-Lantern-77").status_code == 200


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, accounts, clock):
    _clerk(accounts)
    for _ in range(4):
        assert _login(client, "clerk.li", "wrong-password").status_code == 401
    assert _login(client, "clerk.li", "wrong-password").status_code == 401  # the fifth locks
    locked = _login(client, "clerk.li")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 200
    clock.offset += timedelta(minutes=6)
    assert _login(client, "clerk.li").status_code == 200


def test_one_address_guessing_across_many_accounts_is_locked(client, accounts):
    _clerk(accounts)
    for i in range(20):
        r = _login(client, f"nobody.{i}", "guess-guess")
        assert r.status_code == 401, i
    # The address is locked now, so even a real account's right password waits.
    assert _login(client, "clerk.li").status_code == 429


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(client, accounts):
    _clerk(accounts)
    unknown, wrong = _login(client, "nobody", "x" * 12), _login(client, "clerk.li", "x" * 12)
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())


def test_roles_decide_each_action(service, client):
    _, operator = account_with_token(service.db, "op.zhao", ["operator"])
    _, clerk = account_with_token(service.db, "clerk.qian", ["clerk"])
    _, admin = account_with_token(service.db, "admin.sun", ["admin"])
    approve = client.post(f"/api/applications/{NO}/accept", json={}, headers=bearer(operator))
    assert approve.status_code == 403 and approve.json()["reason"] == "applications.act"
    assert client.get("/api/applications", headers=bearer(operator)).status_code == 403
    assert client.get("/api/terminals", headers=bearer(operator)).status_code == 200
    assert client.get("/api/ingest/stats", headers=bearer(clerk)).status_code == 403
    assert client.get("/api/notifications", headers=bearer(clerk)).status_code == 403
    assert client.get("/api/notifications", headers=bearer(admin)).status_code == 200
    assert (
        client.post(f"/api/applications/{NO}/accept", json={}, headers=bearer(admin)).status_code
        == 403
    )
    assert (
        client.post(f"/api/applications/{NO}/accept", json={}, headers=bearer(clerk)).status_code
        == 200
    )


def test_tokens_are_stored_hashed_and_die_with_the_disabled_account(service, client, accounts):
    _, token = account_with_token(service.db, "clerk.zhou", ["clerk"])
    assert client.get("/api/applications", headers=bearer(token)).status_code == 200
    with service.db.transaction() as s:
        rows = s.scalars(select(StaffApiToken)).all()
        assert token not in {r.token_hash for r in rows} and rows[0].prefix == token[:10]
        assert all(
            r.password_hash.startswith("$argon2id$") for r in s.scalars(select(StaffAccount))
        )
    accounts.disable("clerk.zhou")
    assert client.get("/api/applications", headers=bearer(token)).status_code == 401
    assert _login(client, "clerk.zhou", PASSWORD).status_code == 401


def test_a_signed_in_person_makes_a_token_and_the_session_table_holds_no_cookie(
    client, accounts, service
):
    _clerk(accounts)
    r = _login(client, "clerk.li")
    secret = r.cookies[SESSION_COOKIE]
    made = client.post(
        "/api/tokens",
        json={"name": "nightly export"},
        headers={CSRF_HEADER: r.json()["csrf_token"]},
    )
    assert made.status_code == 200
    client.cookies.clear()
    assert (
        client.get("/api/session", headers=bearer(made.json()["token"])).json()["username"]
        == "clerk.li"
    )
    with service.db.transaction() as s:
        assert secret not in {x.id_hash for x in s.scalars(select(StaffSession))}


def test_login_bodies_are_bounded(client):
    r = client.post("/api/session", json={"username": "a" * 65, "password": "x"})
    assert r.status_code == 422
    r = client.post("/api/session", json={"username": "a", "password": "x" * 129})
    assert r.status_code == 422


def test_the_applicant_is_masked_and_a_full_view_is_a_supervisors_audited_act(service, client):
    _, clerk = account_with_token(service.db, "clerk.qian", ["clerk"])
    _, supervisor = account_with_token(service.db, "sup.ma", ["supervisor"])
    masked = client.get(f"/api/applications/{NO}", headers=bearer(clerk)).json()["applicant"]
    assert masked == {
        "name": "张*",
        "id_document_type": "cn_resident_id",
        "id_number": "1101**********002X",
        "phone": "138****8000",
    }
    url = f"/api/applications/{NO}?unmasked=true"
    refused = client.get(url, headers=bearer(clerk))
    assert refused.status_code == 403 and refused.json()["reason"] == "applicants.unmasked"
    full = client.get(url, headers=bearer(supervisor)).json()["applicant"]
    assert (full["id_number"], full["phone"]) == ("11010519491231002X", "13800138000")
    with service.db.transaction() as s:
        views = s.scalars(select(StaffAction).where(StaffAction.action == "view_unmasked")).all()
        assert [(v.application_no, v.staff_id) for v in views] == [(NO, 2)]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"\x00", "application/json"), (b"--x\r\nbroken", "multipart/form-data; boundary=x")],
)
def test_a_stranger_with_a_malformed_body_hears_sign_in_first_not_the_schema(
    client, accounts, body, content_type
):
    # Found by the OpenAPI fuzzer: FastAPI checks a body before the route's sign-in runs.
    headers = {"content-type": content_type}
    response = client.post("/api/session/password", content=body, headers=headers)
    assert response.status_code == 401 and response.json() == {"detail": "sign in first"}

    _clerk(accounts)
    assert _login(client, "clerk.li").status_code == 200
    signed_in = client.post("/api/session/password", content=body, headers=headers)
    assert signed_in.status_code in (400, 403, 422)  # the caller is known: the body is judged
