"""The console's catalog editor: admins edit items in a draft, publish version N and push it as a
signed bundle; every edit is checked by the terminal's schema, audited and CSRF-protected;
supervisors and operators read, clerks are refused."""

from __future__ import annotations

import re

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.catalog_editor import CatalogEdit, CatalogVersion
from backend.models import CommandRow
from backend.service import BackendService
from cloud_bridge.contract.catalog import find_item, parse_catalog


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    accounts = Accounts(svc.db)
    for name, roles in (
        ("admin.sun", ["admin"]),
        ("sup.ma", ["supervisor"]),
        ("op.zhao", ["operator"]),
        ("clerk.li", ["clerk"]),
    ):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def _form_of(client, code: str) -> dict[str, str]:
    """The item form as the browser would post it unchanged (fields and their values)."""
    page = client.get(f"/console/catalog/items/{code}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_of(page.text)}
    html = page.text.split('data-testid="item-form"', 1)[1]
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


def test_a_clerk_is_refused_and_a_supervisor_reads_without_editing(client):
    assert client.get("/console/catalog", follow_redirects=False).status_code in (303, 401)
    sign_in(client, "clerk.li")
    assert client.get("/console/catalog").status_code == 403
    assert "nav-catalog" not in client.get("/console/queue").text
    client.cookies.clear()
    sign_in(client, "sup.ma")
    page = client.get("/console/catalog")
    assert page.status_code == 200 and "nav-catalog" in page.text
    assert 'data-testid="item-SB-0203"' in page.text and "builtin-2026.12" in page.text
    assert 'data-testid="edit"' not in page.text and "publish-form" not in page.text
    assert client.get("/console/catalog/items/SB-0203").status_code == 403
    csrf = csrf_of(page.text)
    r = client.post("/console/catalog/items/SB-0203", data={"csrf_token": csrf, "name_zh": "x"})
    assert r.status_code == 403


def test_an_admin_edits_a_fee_and_promised_days_publishes_and_pushes_a_signed_bundle(
    client, service
):
    sign_in(client, "admin.sun")
    form = _form_of(client, "SB-0203")
    assert form["fee_kind"] == "free" and form["promised_days"] == "1"
    form |= {"fee_kind": "paid", "fee_yuan": "20", "fee_basis": "工本费", "promised_days": "2"}
    without = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post("/console/catalog/items/SB-0203", data=without).status_code == 403
    r = client.post("/console/catalog/items/SB-0203", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "已保存到草稿" in page.text and "草稿 catalog-1" in page.text
    row = page.text.split('data-testid="item-SB-0203"', 1)[1].split("</tr>", 1)[0]
    assert "¥20.00" in row and "工本费" in row and "3 / 2 个工作日" in row
    history = page.text.split('data-testid="history"', 1)[1]
    assert "admin.sun" in history and "edit_item SB-0203" in history
    assert "fee_fen: 0 → 2000" in history and "promised_days: 1 → 2" in history

    csrf = csrf_of(page.text)
    r = client.post(
        "/console/catalog/publish",
        data={"csrf_token": csrf, "note": "新收费", "target": "T0001"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "已发布并推送到 T0001" in client.get(r.headers["location"]).text
    with service.db.transaction() as session:
        version = session.get(CatalogVersion, 1)
        assert (version.state, version.published_by, version.note) == (
            "published",
            "admin.sun",
            "新收费",
        )
        command = session.scalars(select(CommandRow)).one()
        actions = session.scalars(select(CatalogEdit.action).order_by(CatalogEdit.id)).all()
    assert actions == ["edit_item", "publish", "push"]
    assert (command.terminal_id, command.issued_by) == ("T0001", "admin.sun")
    catalog = parse_catalog(command.payload["catalog"])
    assert catalog.version == command.payload["bundle_version"] == "catalog-1"
    sb = find_item("SB-0203", catalog.items)
    assert (sb.fee_fen, sb.fee_basis, sb.promised_days) == (2000, "工本费", 2)

    # The next edit starts draft 2 from version 1.
    form = _form_of(client, "SB-0203") | {"promised_days": "3"}
    assert client.post("/console/catalog/items/SB-0203", data=form).status_code == 200
    with service.db.transaction() as session:
        draft = session.get(CatalogVersion, 2)
        assert (draft.state, draft.based_on) == ("draft", 1)


@pytest.mark.parametrize(
    ("change", "field_words", "why"),
    [
        ({"promised_days": "9"}, "承诺办结时限（工作日）", "beyond the legal 3"),
        ({"fee_kind": "paid", "fee_yuan": "abc"}, "收费", "an amount in yuan"),
        ({"fee_kind": "paid", "fee_yuan": "5", "fee_basis": ""}, "收费依据", "required"),
        ({"legal_days": "0"}, "法定办结时限（工作日）", "from 1 to 365"),
        ({"mat_required_0": "", "mat_tolerated_0": "5"}, "材料", "cannot be tolerated"),
        ({"mat_ref_0": "no-such-paper"}, "材料", "not a material"),
        ({"name_zh": ""}, "中文名称", "required"),
        ({"result_size": "XL"}, "结果格口尺寸", "S, M or L"),
    ],
)
def test_an_invalid_edit_is_refused_naming_the_field_and_nothing_changes(
    client, service, change, field_words, why
):
    sign_in(client, "admin.sun")
    form = _form_of(client, "SB-0203") | change
    if not change.get("mat_required_0", "on"):
        form.pop("mat_required_0")
    r = client.post("/console/catalog/items/SB-0203", data=form)
    assert r.status_code == 422
    error = r.text.split('data-testid="error"', 1)[1].split("</p>", 1)[0]
    assert f"未保存：{field_words} —— " in error and why in error
    for name, value in change.items():  # what the admin typed is still in the form
        if value and name.startswith(("fee_yuan", "promised", "legal")):
            assert f'value="{value}"' in r.text
    with service.db.transaction() as session:
        assert session.scalars(select(CatalogEdit)).all() == []
        assert session.scalars(select(CatalogVersion)).all() == [] or all(
            find_item("SB-0203", parse_catalog(v.document).items).promised_days == 1
            for v in session.scalars(select(CatalogVersion))
        )


def test_an_admin_adds_and_disables_items_and_a_push_to_an_unknown_terminal_is_reported(
    client, service
):
    sign_in(client, "admin.sun")
    page = client.get("/console/catalog/items/new?class_code=SB")
    csrf = csrf_of(page.text)
    new = {
        "csrf_token": csrf,
        "class_code": "SB",
        "code": "HJ-0999",
        "name_zh": "灵活就业参保登记",
        "name_en": "Flexible employment enrolment",
        "fee_kind": "free",
        "legal_days": "5",
        "promised_days": "3",
        "mat_ref_0": "id-card-copy",
        "mat_required_0": "on",
        "result_size": "S",
    }
    r = client.post("/console/catalog/items/new", data=new)
    assert r.status_code == 422 and "事项编码" in r.text and "class SB" in r.text
    new["code"] = "SB-0299"
    r = client.post("/console/catalog/items/new", data=new, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(
        "/console/catalog/items/SB-0203/disabled",
        data={"csrf_token": csrf, "disabled": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/console/catalog")
    assert 'data-testid="item-SB-0299"' in page.text
    assert 'data-testid="disabled"' in page.text.split('data-testid="item-SB-0203"', 1)[1]

    r = client.post(
        "/console/catalog/publish", data={"csrf_token": csrf, "note": "", "target": "T9999"}
    )
    assert r.status_code == 422
    assert "catalog-1 published, not sent: unknown terminal(s): T9999" in r.text
    with service.db.transaction() as session:
        doc = session.get(CatalogVersion, 1).document
        assert session.scalars(select(CommandRow)).all() == []
        push = session.scalars(select(CatalogEdit).where(CatalogEdit.action == "push")).one()
        assert push.subject == "T9999" and "unknown terminal" in push.changes["outcome"]
    codes = {i.code for i in parse_catalog(doc).items}
    assert "SB-0299" in codes and "SB-0203" not in codes  # disabled: not offered at the kiosk
    assert any(i["code"] == "SB-0203" and i["disabled"] for i in doc["item"])  # but kept

    # Pushed again, to every registered terminal, from the versions list.
    r = client.post(
        "/console/catalog/versions/1/push",
        data={"csrf_token": csrf, "target": "all"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with service.db.transaction() as session:
        assert session.scalars(select(CommandRow.terminal_id)).all() == ["T0001"]
    assert (
        client.post(
            "/console/catalog/versions/7/push", data={"csrf_token": csrf, "target": "all"}
        ).status_code
        == 404
    )


def test_an_operator_reads_the_catalog_but_cannot_publish(client):
    sign_in(client, "op.zhao")
    page = client.get("/console/catalog")
    assert page.status_code == 200
    r = client.post(
        "/console/catalog/publish", data={"csrf_token": csrf_of(page.text), "target": "all"}
    )
    assert r.status_code == 403


def test_a_published_version_goes_to_a_terminal_group_as_a_staged_rollout(client, service):
    from backend import terminal_groups
    from backend.rollout_tables import Rollout

    with service.db.transaction() as session:
        terminal_groups.create(session, "pilot", "first terminals", "admin.sun")
        terminal_groups.add_members(session, "pilot", ["T0001"], "admin.sun")
    sign_in(client, "admin.sun")
    form = _form_of(client, "SB-0203") | {"promised_days": "2"}
    client.post("/console/catalog/items/SB-0203", data=form)
    csrf = form["csrf_token"]
    r = client.post(
        "/console/catalog/publish",
        data={"csrf_token": csrf, "target": "group:pilot"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with service.db.transaction() as session:
        rollout = session.scalars(select(Rollout)).one()
        assert (rollout.kind, rollout.version, rollout.created_by) == (
            "bundle",
            "catalog-1",
            "admin.sun",
        )
        command = session.scalars(select(CommandRow)).one()
        assert command.terminal_id == "T0001" and command.payload["bundle_version"] == "catalog-1"
    r = client.post(
        "/console/catalog/versions/1/push", data={"csrf_token": csrf, "target": "group:nobody"}
    )
    assert r.status_code == 422 and "no group nobody" in r.text
