"""Step days from the catalog: an admin sets an item's 受理/审核/决定 days in the console's catalog
editor (checked like the terminal checks them, audited, admins only), and a case's step
deadlines follow the item's step days in the catalog version the terminal promised it under
(else the newest published version, else the terminals' starting catalog), on its page; items
without them keep the default split."""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.catalog_editor import CatalogEdit, CatalogVersion
from backend.models import StepDeadline
from backend.service import BackendService
from backend.step_deadlines import StepDaysInForce
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.messages import SERVICE_TZ
from cloud_bridge.contract.schema import examples

# Monday 2 November 2026, no holiday until the new year: working day n is easy to count.
SUBMITTED = datetime(2026, 11, 2, 10, 0, tzinfo=SERVICE_TZ)


def _service(url: str, tmp_path) -> BackendService:
    svc = BackendService(url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    accounts = Accounts(svc.db)
    for name, roles in (("admin.sun", ["admin"]), ("clerk.li", ["clerk"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    # Which version is newest is asked at every submission here (5 s in service).
    svc.ingest.progress.step_days = StepDaysInForce(recheck_s=0)
    return svc


@pytest.fixture
def service(tmp_path, database_url):
    svc = _service(database_url, tmp_path)
    yield svc
    svc.stop()


@pytest.fixture
def sqlite_service(tmp_path):
    svc = _service(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    yield svc
    svc.stop()


BUILTIN = "builtin-2026.12"


def submit(
    service: BackendService,
    no: str,
    item: str,
    promised_days: int,
    catalog_version: str | None = BUILTIN,
) -> None:
    event = examples()["event.application_submitted"].model_copy(
        update={
            "message_id": m.new_message_id(),
            "application_no": no,
            "operation_id": no,
            "item_code": item,
            "materials": [],
            "reused_materials": [],
            "tolerated_missing": [],
            "submitted_at": SUBMITTED,
            "promised_days": promised_days,
            "catalog_version": catalog_version,
        }
    )
    service.ingest.handle_batch([(event.topic(), event.encode())])


def days_of(service: BackendService, no: str) -> tuple[int, ...]:
    """A case's step days in step order: accept, review, decide, result."""
    found = step_days(service, no)
    return tuple(found[s][0] for s in ("accept", "review", "decide", "result"))


def step_days(service: BackendService, no: str) -> dict[str, tuple[int, date]]:
    with service.db.transaction() as session:
        rows = session.scalars(select(StepDeadline).where(StepDeadline.application_no == no))
        return {r.step: (r.days, r.due_on) for r in rows}


def test_a_case_of_an_item_with_step_days_shows_those_deadlines_on_its_page(service):
    # The shipped 最低生活保障申请 (MZ-0102): promised 30, accept 1, review 20, decide 30.
    submit(service, "AH-T0001-20261102-0001", "MZ-0102", 30)
    # The same promise for an item without step days: the default split (6, 15, 24, 30).
    submit(service, "AH-T0001-20261102-0002", "YB-0103", 30)
    assert step_days(service, "AH-T0001-20261102-0001") == {
        "accept": (1, date(2026, 11, 3)),
        "review": (20, date(2026, 11, 30)),
        "decide": (30, date(2026, 12, 14)),
        "result": (30, date(2026, 12, 14)),
    }
    assert {k: d for k, (d, _) in step_days(service, "AH-T0001-20261102-0002").items()} == {
        "accept": 6,
        "review": 15,
        "decide": 24,
        "result": 30,
    }
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        page = client.get("/console/applications/AH-T0001-20261102-0001")
    assert page.status_code == 200
    steps = page.text.split('data-testid="steps"', 1)[1].split("</table>", 1)[0]
    row = {
        s: steps.split(f'data-testid="step-{s}"', 1)[1].split("</tr>", 1)[0]
        for s in ("accept", "review", "decide", "result")
    }
    assert "2026-11-03" in row["accept"] and "提交后第 1 个工作日" in row["accept"]
    assert "2026-11-30" in row["review"] and "提交后第 20 个工作日" in row["review"]
    assert "2026-12-14" in row["decide"] and "提交后第 30 个工作日" in row["decide"]
    assert "2026-12-14" in row["result"] and "提交后第 30 个工作日" in row["result"]


def _item_form(client: TestClient, code: str) -> dict[str, str]:
    """The item form with what it shows now, as a browser posts it back unchanged."""
    page = client.get(f"/console/catalog/items/{code}")
    assert page.status_code == 200
    html = page.text.split('data-testid="item-form"', 1)[1]
    data = {"csrf_token": csrf_of(page.text)}
    for name, value in re.findall(r'<input name="([a-z_0-9]+)"[^>]*value="([^"]*)"', html):
        data[name] = value
    for name, value in re.findall(r'<input type="radio" name="(\w+)" value="(\w+)" checked', html):
        data[name] = value
    for name in re.findall(r'<input type="checkbox" name="(\w+)" checked', html):
        data[name] = "on"
    for name, body in re.findall(r'<select name="(\w+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


def _draft_item(service: BackendService, code: str) -> dict | None:
    with service.db.transaction() as session:
        row = session.scalars(select(CatalogVersion).where(CatalogVersion.state == "draft")).first()
        if row is None:
            return None
        return next(i for i in row.document["item"] if i["code"] == code)


def test_an_admin_sets_step_days_in_the_editor_and_new_cases_follow_the_published_version(
    sqlite_service,
):
    service = sqlite_service
    with TestClient(create_app(service)) as client:
        sign_in(client, "admin.sun")
        form = _item_form(client, "MZ-0102")
        # The shipped step days are in the form; HJ-0102 (promised 5) has none.
        assert (form["step_accept"], form["step_review"], form["step_decide"]) == ("1", "20", "30")
        form = _item_form(client, "HJ-0102")
        assert form["promised_days"] == "5"
        assert (form["step_accept"], form["step_review"], form["step_decide"]) == ("", "", "")
        form |= {"step_accept": "1", "step_review": "2", "step_decide": "4"}
        saved = client.post("/console/catalog/items/HJ-0102", data=form, follow_redirects=False)
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        row = page.split('data-testid="item-HJ-0102"', 1)[1].split("</tr>", 1)[0]
        assert "受理 1 · 审核 2 · 决定 4" in row
        history = html.unescape(page.split('data-testid="history"', 1)[1])
        assert "edit_item HJ-0102" in history
        assert 'step_days: null → {"accept": 1, "review": 2, "decide": 4}' in history
        assert _item_form(client, "HJ-0102")["step_review"] == "2"

        # A draft is not in force: a case submitted now gets the default split (1, 3, 4, 5),
        # even one naming the draft's version.
        submit(service, "AH-T0001-20261102-0011", "HJ-0102", 5, None)
        submit(service, "AH-T0001-20261102-0012", "HJ-0102", 5, "catalog-1")
        assert days_of(service, "AH-T0001-20261102-0011") == (1, 3, 4, 5)
        assert days_of(service, "AH-T0001-20261102-0012") == (1, 3, 4, 5)
        publish(client, page)

        # Published as catalog-1: the terminals that run it, and a terminal that names no
        # version or one the backend does not hold, take its step days; a terminal still on
        # the starting catalog promised under that one and keeps its default split.
        for n, version in enumerate(("catalog-1", None, "dc-2026.12-1"), start=20):
            submit(service, f"AH-T0001-20261102-00{n}", "HJ-0102", 5, version)
            assert days_of(service, f"AH-T0001-20261102-00{n}") == (1, 2, 4, 5), version
        submit(service, "AH-T0001-20261102-0030", "HJ-0102", 5, BUILTIN)
        assert days_of(service, "AH-T0001-20261102-0030") == (1, 3, 4, 5)

        # catalog-2 gives 3 review days: a case from a terminal still on catalog-1 keeps 2.
        form = _item_form(client, "HJ-0102") | {"step_review": "3"}
        saved = client.post("/console/catalog/items/HJ-0102", data=form, follow_redirects=False)
        assert saved.status_code == 303
        publish(client, client.get("/console/catalog").text)
    submit(service, "AH-T0001-20261102-0040", "HJ-0102", 5, "catalog-1")
    submit(service, "AH-T0001-20261102-0041", "HJ-0102", 5, "catalog-2")
    submit(service, "AH-T0001-20261102-0042", "HJ-0102", 5, None)
    assert days_of(service, "AH-T0001-20261102-0040") == (1, 2, 4, 5)
    assert days_of(service, "AH-T0001-20261102-0041") == (1, 3, 4, 5)
    assert days_of(service, "AH-T0001-20261102-0042") == (1, 3, 4, 5)
    # A terminal promising other days than its version says gets the default split of them.
    submit(service, "AH-T0001-20261102-0043", "HJ-0102", 7, "catalog-2")
    assert days_of(service, "AH-T0001-20261102-0043") == (2, 4, 6, 7)
    # Cases submitted before keep their days.
    assert days_of(service, "AH-T0001-20261102-0020") == (1, 2, 4, 5)
    with service.db.transaction() as session:
        actions = session.scalars(select(CatalogEdit.action).order_by(CatalogEdit.id)).all()
    assert actions == ["edit_item", "publish", "edit_item", "publish"]


def publish(client: TestClient, page: str) -> None:
    r = client.post(
        "/console/catalog/publish",
        data={"csrf_token": csrf_of(page), "note": "审核时限", "target": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303


@pytest.mark.parametrize("version", ["../catalog-1", "catalog 1", "c" * 65, ""])
def test_a_submission_naming_a_malformed_catalog_version_is_refused_by_the_contract(version):
    event = examples()["event.application_submitted"].model_dump(mode="json")
    event["catalog_version"] = version
    with pytest.raises(m.MalformedMessage, match="catalog_version"):
        m.decode(json.dumps(event).encode())


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        (("1", "6", ""), "item HJ-0102: step_days.review 6 is beyond promised_days 5"),
        (("3", "2", "4"), "item HJ-0102: step_days.review 2 is before step_days.accept 3"),
        (("1", "", "x"), "step_days.decide: a whole number from 1 to 365"),
        (("0", "", ""), "step_days.accept: a whole number from 1 to 365"),
    ],
)
def test_bad_step_days_come_back_with_the_field_named_and_nothing_kept(
    sqlite_service, steps, words
):
    with TestClient(create_app(sqlite_service)) as client:
        sign_in(client, "admin.sun")
        form = _item_form(client, "HJ-0102")
        form |= dict(zip(("step_accept", "step_review", "step_decide"), steps, strict=True))
        r = client.post("/console/catalog/items/HJ-0102", data=form)
    assert r.status_code == 422
    error = r.text.split('data-testid="error"', 1)[1].split("</p>", 1)[0]
    assert "未保存：环节时限（提交后第几个工作日）" in error and words in error
    # What was typed comes back, the step fields marked.
    assert 'name="step_review" type="number" min="1" max="365" value="' + steps[1] + '"' in r.text
    assert 'data-testid="step_accept" aria-invalid="true"' in r.text
    assert _draft_item(sqlite_service, "HJ-0102") is None  # nothing kept, not even a draft


def test_clearing_the_step_days_returns_the_item_to_the_default_split_and_is_audited(
    sqlite_service,
):
    with TestClient(create_app(sqlite_service)) as client:
        sign_in(client, "admin.sun")
        form = _item_form(client, "MZ-0102")
        form |= {"step_accept": "", "step_review": "", "step_decide": ""}
        r = client.post("/console/catalog/items/MZ-0102", data=form, follow_redirects=False)
        assert r.status_code == 303
        page = client.get("/console/catalog").text
    history = html.unescape(page.split('data-testid="history"', 1)[1])
    assert "step_days: " in history and '"review": 20' in history and "→ null" in history
    assert "step_days" not in _draft_item(sqlite_service, "MZ-0102")


def test_only_an_admin_may_set_step_days(sqlite_service):
    with TestClient(create_app(sqlite_service)) as client:
        sign_in(client, "admin.sun")
        form = _item_form(client, "HJ-0102") | {"step_review": "2"}
        client.cookies.clear()
        sign_in(client, "clerk.li")
        form["csrf_token"] = csrf_of(client.get("/console/password").text)
        assert client.post("/console/catalog/items/HJ-0102", data=form).status_code == 403
        client.cookies.clear()
        anonymous = client.post("/console/catalog/items/HJ-0102", data=form, follow_redirects=False)
        assert anonymous.status_code in (303, 401, 403)
    assert _draft_item(sqlite_service, "HJ-0102") is None
