"""Sign-in, sessions, CSRF, tokens, throttling and roles on the real API (TestClient, SQLite)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import AccountError, Accounts
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


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_page_loads_a_script_from_elsewhere_into_the_consoles_origin(client, path):
    """FastAPI's /docs and /redoc loaded Swagger UI and ReDoc from cdn.jsdelivr.net, unpinned
    and without integrity, with no sign-in: a script there rides the staff session and reads
    the CSRF token off any console page."""
    r = client.get(path)
    assert r.status_code == 404
    assert "cdn.jsdelivr.net" not in r.text
    assert client.get("/openapi.json").json()["info"]["title"] == "allhours backend"


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
        json=_ask("nightly export"),
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


def _session(app, username, password=PASSWORD):
    """A client of its own, signed in, sending its session's CSRF token on every request."""
    client = TestClient(app)
    r = _login(client, username, password)
    assert r.status_code == 200, r.text
    client.headers[CSRF_HEADER] = r.json()["csrf_token"]
    return client


def _ask(name, password=PASSWORD):
    """A token request: its name and the account's password (a session alone makes none)."""
    return {"name": name, "password": password}


def _staff_id(accounts, username="clerk.li"):
    return next(s.id for s, _ in accounts.list() if s.username == username)


def _live_sessions(service, staff_id):
    with service.db.reading() as s:
        rows = s.scalars(
            select(StaffSession).where(
                StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None)
            )
        )
        return [(r.id_hash, r.created_at) for r in rows]


def test_changing_ones_password_ends_every_other_session_and_token_and_renews_this_one(
    client, accounts, service
):
    # Found in review: the change left other sessions, every token and this cookie working.
    _clerk(accounts)
    _clerk(accounts, "clerk.wang")
    app = client.app
    elsewhere, me, colleague = (
        _session(app, "clerk.li"),
        _session(app, "clerk.li"),
        _session(app, "clerk.wang"),
    )
    token = elsewhere.post("/api/tokens", json=_ask("nightly")).json()["token"]
    theirs = colleague.post("/api/tokens", json=_ask("theirs")).json()["token"]
    staff_id = _staff_id(accounts)
    old_secret, old_csrf = me.cookies[SESSION_COOKIE], me.headers[CSRF_HEADER]
    started = dict(_live_sessions(service, staff_id))

    change = {"current_password": PASSWORD, "new_password": "Brand-New-Pass-77"}
    r = me.post("/api/session/password", json=change)
    assert r.status_code == 200 and r.json()["username"] == "clerk.li"
    new_secret, new_csrf = r.cookies[SESSION_COOKIE], r.json()["csrf_token"]
    assert new_secret != old_secret and new_csrf != old_csrf
    assert "HttpOnly" in r.headers["set-cookie"]

    assert elsewhere.get("/api/session").status_code == 401
    assert client.get("/api/session", headers=bearer(token)).status_code == 401
    with TestClient(app) as stale:
        stale.cookies[SESSION_COOKIE] = new_secret
        assert stale.get("/api/session").status_code == 200
        stale.cookies[SESSION_COOKIE] = old_secret
        assert stale.get("/api/session").status_code == 401
    # This browser goes on, under the new cookie and its new CSRF token only.
    assert me.get("/api/session").json()["username"] == "clerk.li"
    new_password = _ask("x", "Brand-New-Pass-77")
    assert me.post("/api/tokens", json=new_password).status_code == 403  # the old CSRF token
    me.headers[CSRF_HEADER] = new_csrf
    assert me.post("/api/tokens", json=new_password).status_code == 200
    # The same sign-in: the working day's limit still counts from when it began.
    [(_, created)] = _live_sessions(service, staff_id)
    assert created in started.values()
    # Nobody else's sessions or tokens end.
    assert colleague.get("/api/session").json()["username"] == "clerk.wang"
    assert client.get("/api/session", headers=bearer(theirs)).status_code == 200
    assert _login(TestClient(app), "clerk.li", "Brand-New-Pass-77").status_code == 200


def test_a_password_changed_with_a_token_leaves_the_account_signed_in_nowhere(
    client, accounts, service
):
    _clerk(accounts)
    browser = _session(client.app, "clerk.li")
    token = browser.post("/api/tokens", json=_ask("script")).json()["token"]
    change = {"current_password": PASSWORD, "new_password": "Brand-New-Pass-77"}
    r = client.post("/api/session/password", json=change, headers=bearer(token))
    assert r.status_code == 200 and r.json()["csrf_token"] is None
    assert client.get("/api/session", headers=bearer(token)).status_code == 401
    assert browser.get("/api/session").status_code == 401
    assert _live_sessions(service, _staff_id(accounts)) == []


def test_a_wrong_current_password_counts_as_a_failed_sign_in(client, accounts, clock):
    # Found in review: 30 wrong current passwords were each answered 422, the 31st (right) 200.
    _clerk(accounts)
    me = _session(client.app, "clerk.li")
    guess = {"current_password": "guess-0000xx", "new_password": "Another-Pass-991"}
    for _ in range(5):
        wrong = me.post("/api/session/password", json=guess)
        assert wrong.status_code == 422 and "current password is wrong" in wrong.json()["detail"]
    right = {"current_password": PASSWORD, "new_password": "Another-Pass-991"}
    held = me.post("/api/session/password", json=right)
    assert held.status_code == 429 and int(held.headers["retry-after"]) > 200
    assert held.json()["retry_after_s"] == int(held.headers["retry-after"])
    assert _login(TestClient(client.app), "clerk.li").status_code == 429  # one throttle
    clock.offset += timedelta(minutes=6)
    assert me.post("/api/session/password", json=right).status_code == 200


def test_sign_in_failures_lock_the_password_change_too(client, accounts):
    _clerk(accounts)
    me = _session(client.app, "clerk.li")
    for _ in range(5):
        assert _login(TestClient(client.app), "clerk.li", "wrong-password").status_code == 401
    right = {"current_password": PASSWORD, "new_password": "Another-Pass-991"}
    assert me.post("/api/session/password", json=right).status_code == 429


def _login_csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def postgres_client(tmp_path, database_url):
    """The real API over the suite's PostgreSQL (which refuses a NUL in text), with clerk.li."""
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    accounts = Accounts(svc.db)
    _clerk(accounts)
    auth = Auth(accounts, Sessions(svc.db), secure_cookies=False)
    try:
        with TestClient(create_app(svc, auth)) as c:
            yield c
    finally:
        svc.stop()


@ON_POSTGRES
@pytest.mark.parametrize("username", ["a\x00", "clerk.li\x00"])
def test_a_username_no_account_can_have_is_an_unknown_account(
    postgres_client, monkeypatch, username
):
    # Found in review: on PostgreSQL a NUL in the username reached the database (a 500; a
    # 422 once the database's refusal is caught), which says no such account can exist.
    from backend.auth import accounts as accounts_module

    verified = []
    real = accounts_module.verify_password

    def spy(stored_hash, password):
        verified.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(accounts_module, "verify_password", spy)
    client = postgres_client
    unknown = _login(client, "nobody", PASSWORD)
    impossible = _login(client, username, PASSWORD)
    assert (impossible.status_code, impossible.json()) == (unknown.status_code, unknown.json())
    assert impossible.status_code == 401
    assert verified == [None, None]  # each cost one argon2 run, against the dummy hash

    form = client.get("/console/login").text
    page = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _login_csrf(form)},
    )
    assert page.status_code == 401 and "用户名或密码错误" in page.text
    assert _login(client, "clerk.li").status_code == 200


@ON_POSTGRES
def test_impossible_usernames_count_against_the_address(postgres_client):
    client = postgres_client
    for i in range(20):
        assert _login(client, f"x{i}\x00", "guess-guess").status_code == 401, i
    assert _login(client, "clerk.li").status_code == 429


def test_a_username_is_checked_whole(accounts):
    # `$` also matches before a final newline: "clerk.zhou\n" passed the rule.
    with pytest.raises(AccountError, match="username"):
        accounts.add("clerk.zhou\n", ["clerk"], password=PASSWORD)


def test_a_token_cannot_make_tokens_and_signing_out_with_it_revokes_it(client, accounts):
    # Found in review: a leaked token minted fresh 90-day tokens for itself, and DELETE
    # /api/session with it answered signed_out while it kept working.
    _clerk(accounts)
    browser = _session(client.app, "clerk.li")
    token = browser.post("/api/tokens", json=_ask("nightly")).json()["token"]
    refused = client.post("/api/tokens", json=_ask("again"), headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["reason"] == "session_required"
    assert "token cannot make tokens" in refused.json()["detail"]
    assert [t["name"] for t in browser.get("/api/tokens").json()] == ["nightly"]

    out = client.delete("/api/session", headers=bearer(token))
    assert out.json() == {"signed_out": True, "token_revoked": True}
    assert client.get("/api/session", headers=bearer(token)).status_code == 401
    assert browser.get("/api/session").status_code == 200  # the session was not the token's
    assert browser.get("/api/tokens").json() == []


def test_one_lists_and_revokes_ones_own_tokens_and_no_one_elses(client, accounts, service):
    _clerk(accounts)
    _clerk(accounts, "clerk.wang")
    li, wang = _session(client.app, "clerk.li"), _session(client.app, "clerk.wang")
    first = li.post("/api/tokens", json=_ask("first")).json()["token"]
    second = li.post("/api/tokens", json=_ask("second")).json()["token"]
    theirs = wang.post("/api/tokens", json=_ask("theirs")).json()["token"]
    client.get("/api/session", headers=bearer(first))

    listed = li.get("/api/tokens").json()
    assert {t["name"] for t in listed} == {"first", "second"}
    assert first not in str(listed) and second not in str(listed)
    with service.db.reading() as s:
        hashes = set(s.scalars(select(StaffApiToken.token_hash)))
    assert not any(h in str(listed) for h in hashes)  # an id, not the stored hash
    by_name = {t["name"]: t for t in listed}
    assert by_name["first"]["last_used_at"] and by_name["second"]["last_used_at"] is None
    assert by_name["first"]["prefix"] == first[:10]
    assert set(by_name["first"]) == {
        "id", "name", "prefix", "created_at", "expires_at", "last_used_at", "created_from"
    }  # fmt: skip
    assert by_name["first"]["created_from"] == "testclient"  # the address that asked

    their_id = wang.get("/api/tokens").json()[0]["id"]
    assert li.delete(f"/api/tokens/{their_id}").status_code == 404
    assert client.get("/api/session", headers=bearer(theirs)).status_code == 200
    assert li.delete("/api/tokens/not-an-id").status_code == 422

    gone = li.delete(f"/api/tokens/{by_name['first']['id']}")
    assert gone.json() == {"id": by_name["first"]["id"], "revoked": True}
    assert client.get("/api/session", headers=bearer(first)).status_code == 401
    assert client.get("/api/session", headers=bearer(second)).status_code == 200
    assert [t["name"] for t in li.get("/api/tokens").json()] == ["second"]
    assert li.delete(f"/api/tokens/{by_name['first']['id']}").status_code == 404


def test_signing_out_of_the_console_with_a_token_revokes_it_too(client, accounts):
    _clerk(accounts)
    token = _session(client.app, "clerk.li").post("/api/tokens", json=_ask("kiosk")).json()
    out = client.post("/console/logout", headers=bearer(token["token"]), follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/session", headers=bearer(token["token"])).status_code == 401


def _token_rows(service):
    with service.db.reading() as s:
        return [
            (r.name, r.created_from, r.created_in_session) for r in s.scalars(select(StaffApiToken))
        ]


def test_a_token_needs_the_password_and_a_wrong_one_counts_as_a_failed_sign_in(
    client, accounts, service, clock
):
    # Found in review: a moment at a signed-in browser (its CSRF token is on every page) made a
    # 90-day token that outlived the sign-out, with no password asked and no trace of where.
    _clerk(accounts)
    me = _session(client.app, "clerk.li")
    assert me.post("/api/tokens", json={"name": "backup"}).status_code == 422
    for _ in range(5):
        wrong = me.post("/api/tokens", json=_ask("backup", "guess-0000xx"))
        assert (wrong.status_code, wrong.json()["reason"]) == (403, "password_wrong")
    assert _token_rows(service) == []
    # The wrong passwords were failed sign-ins: the account is locked, for this too.
    held = me.post("/api/tokens", json=_ask("backup"))
    assert held.status_code == 429 and int(held.headers["retry-after"]) > 200
    assert _login(TestClient(client.app), "clerk.li").status_code == 429
    assert _token_rows(service) == []
    clock.offset += timedelta(minutes=6)
    made = me.post("/api/tokens", json=_ask("backup"))
    assert made.status_code == 200
    [(session_hash, _)] = _live_sessions(service, _staff_id(accounts))
    assert _token_rows(service) == [("backup", "testclient", session_hash)]
    assert client.get("/api/session", headers=bearer(made.json()["token"])).status_code == 200


def test_sign_in_failures_lock_token_making_too(client, accounts, service):
    _clerk(accounts)
    me = _session(client.app, "clerk.li")
    for _ in range(5):
        assert _login(TestClient(client.app), "clerk.li", "wrong-password").status_code == 401
    assert me.post("/api/tokens", json=_ask("backup")).status_code == 429
    assert _token_rows(service) == []
