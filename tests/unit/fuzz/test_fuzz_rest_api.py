"""The REST API and the console's forms under generated requests: no input gives a 500.

Schemathesis reads the backend's own OpenAPI document and generates requests for every
operation (valid ones and ones that break the schema), sent in-process to the real FastAPI
application over a real SQLite database holding a submitted application, signed in as a
person holding every role, and once more with no credentials. The console's form routes are
not in the OpenAPI document, so Hypothesis posts generated forms to each of them with a
signed-in session and its CSRF token. A few examples each in the suite; `make fuzz` runs many.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.auth.guard import Auth
from backend.auth.roles import Role
from backend.auth.sessions import Sessions
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

NO = "AH-T0001-20261120-0001"
PASSWORD = "Correct-Horse-42"
PUBLIC = {("post", "/api/session"), ("get", "/healthz")}  # open by design (test_backend_api_auth)


def submission() -> m.ApplicationSubmitted:
    base = examples()["event.application_submitted"]
    fields = {"message_id": m.new_message_id(), "application_no": NO, "operation_id": NO}
    return base.model_copy(update=fields)


@contextmanager
def backend(tmp_path_factory) -> Iterator[tuple[BackendService, FastAPI]]:
    """The real application over its own SQLite file, holding one submitted application."""
    path = tmp_path_factory.mktemp("rest-fuzz")
    svc = BackendService(f"sqlite:///{path / 'api.db'}", path / "blobs", broker_port=None)
    event = submission()
    svc.register_terminal(event.terminal_id, bytes(range(32)))
    svc.ingest.handle_batch([(event.topic(), event.encode())])
    try:
        yield svc, create_app(svc, Auth(Accounts(svc.db), Sessions(svc.db), secure_cookies=False))
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with backend(tmp_path_factory) as pair:
        yield pair


@pytest.fixture(scope="module")
def service(api):
    return api[0]


@pytest.fixture(scope="module")
def app(api):
    return api[1]


@pytest.fixture(scope="module")
def token(service):
    _staff, token = account_with_token(service.db, "fuzz.all", [r.value for r in Role])
    return token


@pytest.fixture(scope="module")
def operations(app):
    """Every operation of the backend's OpenAPI document (the list must not be empty)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 10, [op.label for op in found]
    return found


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def each_operation(operations, mode, test) -> int:
    """Run `test(case)` on generated cases of every operation; how many operations ran.

    A quarter of the profile's examples per operation (10 in the suite, 1,250 under `make
    fuzz`). An operation with nothing a request could break (no parameter, no body) has no
    negative case, and is skipped in that mode only."""
    ran = 0
    per_operation = settings(max_examples=max(5, settings().max_examples // 4))
    for operation in operations:
        try:
            per_operation(given(case=operation.as_strategy(mode))(test))()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        ran += 1
    return ran


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
def test_no_generated_request_makes_the_api_fail(service, operations, token, mode):
    sessions = Sessions(service.db)
    staff = next(s for s, _ in Accounts(service.db).list() if s.username == "fuzz.all")

    def call(case):
        # Signing out with a token revokes it: that operation signs a throwaway token out.
        sign_out = (case.method.upper(), case.operation.path) == ("DELETE", "/api/session")
        response = case.call(
            headers=bearer(sessions.issue_token(staff, "sign-out") if sign_out else token)
        )
        case.validate_response(response, checks=[not_a_server_error])

    assert each_operation(operations, mode, call) >= len(operations) // 2


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/alarms/T0001/ALARM-1/clear", {"note": "\r"}),
        ("/api/fleet/terminals/T0001/commands", {"command": "restart_kiosk", "reason": " \t"}),
        ("/api/fleet/bundles/rollback", {"terminals": ["T0001"], "reason": "\n"}),
        ("/api/fleet/rollouts/1/actions", {"action": "pause", "reason": " "}),
        ("/api/alarms/T0001/ALARM-1/clear", {"note": "\x1f"}),
        ("/api/fleet/terminals/T0001/commands", {"command": "restart_kiosk", "reason": "\x1c "}),
    ],
    ids=[
        "alarm-clear",
        "operator-command",
        "bundle-rollback",
        "rollout-action",
        "alarm-clear-unit-separator",
        "operator-command-file-separator",
    ],
)
def test_a_reason_of_white_space_is_refused_as_no_reason(app, token, path, body):
    # Found by `make fuzz`: clearing an alarm with the note "\r" passed the body's length
    # check and the clearing's own "say why" check raised, a 500. A required reason or note is
    # now something besides white space, or the body is refused naming the field. CI's fuzz
    # later found "\x1f": white space to Python's `strip`, not to pydantic's trimming.
    with TestClient(app) as client:
        response = client.post(path, json=body, headers=bearer(token))
    assert response.status_code == 422, response.text
    field = "note" if "note" in body else "reason"
    assert any(err["loc"][-1] == field for err in response.json()["detail"])


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
def test_without_credentials_only_the_public_routes_answer(operations, mode):
    def call(case):
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])
        if (case.method.lower(), case.operation.path) not in PUBLIC:
            assert response.status_code == 401, (case.method, case.path, response.status_code)

    assert each_operation(operations, mode, call) >= len(operations) // 2


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A signed-in console session and its CSRF token (sent as htmx sends it), on a backend
    of its own: the API fuzz above signs in wrongly often enough to get its address held."""
    with backend(tmp_path_factory) as (service, app):
        Accounts(service.db).add(
            "fuzz.console", [r.value for r in Role], password=PASSWORD, must_change_password=False
        )
        yield from _signed_in(app)


def _signed_in(app):
    with TestClient(app) as client:
        page = client.get("/console/login")
        login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = {"username": "fuzz.console", "password": PASSWORD, "csrf_token": login_csrf}
        client.post("/console/login", data=form, follow_redirects=False)
        queue = client.get("/console/queue")
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', queue.text)
        assert csrf, "the console did not sign in"
        client.headers["X-CSRF-Token"] = csrf.group(1)
        yield client


VALUES = st.one_of(st.text(max_size=300), st.integers().map(str), st.just(NO), st.just(""))


@pytest.fixture(scope="module")
def console_forms(console) -> tuple[list[str], list[str]]:
    """The forms a signed-in person is shown and the field names they hold: found by
    following the console's own links from the queue, as a browser would."""
    seen, forms, fields = set(), set(), set()
    pending = ["/console/queue", f"/console/applications/{NO}"]
    while pending and len(seen) < 40:
        page = pending.pop()
        if page in seen:
            continue
        seen.add(page)
        html = console.get(page).text
        for link in re.findall(r'href="(/console/[^"#?]*)"', html):
            if link not in seen and not link.startswith(("/console/static", "/console/logout")):
                pending.append(link)
        for form in re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html):
            forms.add(form)
        forms.update(re.findall(r'hx-post="([^"]+)"', html))
        fields.update(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"', html))
    forms.discard("/console/logout")  # signing out would end the session the others need
    return sorted(forms), sorted(fields)


def test_the_console_shows_its_forms(console_forms):
    forms, fields = console_forms
    assert f"/console/applications/{NO}/act" in forms, forms
    assert {"version", "idempotency_key"} <= set(fields), fields


@given(data=st.data())
def test_no_generated_form_makes_the_console_fail(console, console_forms, data):
    forms, fields = console_forms
    path = data.draw(st.sampled_from(forms))
    names = st.one_of(st.sampled_from(fields), st.text(max_size=40))
    form = data.draw(st.dictionaries(names, VALUES, max_size=8))
    response = console.post(path, data=form, follow_redirects=False)
    assert response.status_code < 500, (path, form, response.status_code, response.text[:300])
