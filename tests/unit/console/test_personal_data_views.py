"""Views of personal data over the real app (TestClient), on SQLite and on PostgreSQL 15: a scan
opened is recorded before its pages are served, once per person and material within the
dedupe window; a person viewing far more than a working pace tells the admins once and is then
refused (429) until the hour has passed; admins read who viewed what; looking at a case is not
acting on it (escalations)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from console_cases import KEY, PASSWORD, promise_by, scanned_pdf, sign_in, submit
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.escalations import SUPERVISOR, Escalations, EscalationSettings
from backend.models import Escalation, StaffAccount, StaffAction, StaffNotice, utcnow
from backend.service import BackendService
from backend.staff import ViewLimits
from backend.workdays import CN_OFFICIAL

NO = "AH-T0001-20261120-0001"
# More cases with a scan each, for a clerk opening many materials.
MORE = [f"AH-T0001-20261120-{i:04d}" for i in range(2, 7)]


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    pdf = scanned_pdf(1)
    for no in (NO, *MORE):
        submit(svc, no, pdf=pdf)
    accounts = Accounts(svc.db)
    for name, roles in (
        ("clerk.li", ["clerk"]),
        ("clerk.wang", ["clerk"]),
        ("sup.ma", ["supervisor"]),
        ("admin.qi", ["admin"]),
        ("admin.gone", ["admin"]),
    ):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    accounts.disable("admin.gone")
    yield svc
    svc.stop()


@pytest.fixture
def app(service):
    return create_app(service)


def _scan(client: TestClient, no: str) -> str:
    """The viewer's address of the case's one scan."""
    page = client.get(f"/console/applications/{no}").text
    return re.search(rf'href="(/console/applications/{no}/materials/\d+)"', page).group(1)


def _views(service, action: str) -> list[tuple[str, str, int | None]]:
    with service.db.reading() as session:
        rows = session.execute(
            select(StaffAction, StaffAccount.username)
            .join(StaffAccount, StaffAccount.id == StaffAction.staff_id)
            .where(StaffAction.action == action)
            .order_by(StaffAction.at)
        )
        return [(who, a.application_no, a.outcome.get("material_id")) for a, who in rows]


def _security_notices(service) -> list[tuple[str, str, str]]:
    """(told, kind, about) of every security notice."""
    with service.db.reading() as session:
        names = dict(session.execute(select(StaffAccount.id, StaffAccount.username)).all())
        rows = session.scalars(
            select(StaffNotice).where(StaffNotice.kind.like("audit.%")).order_by(StaffNotice.id)
        )
        return [(names[n.staff_id], n.kind, names[n.about_staff_id]) for n in rows]


def test_a_scan_view_is_recorded_once_per_person_and_material_before_its_pages(app, service):
    with TestClient(app) as li, TestClient(app) as wang:
        sign_in(li, "clerk.li")
        link = _scan(li, NO)
        material = int(link.rsplit("/", 1)[1])
        assert li.get(link).status_code == 200
        assert _views(service, "view_scan") == []  # the viewer's page shows no scan itself
        for page in (1, 1, 1):
            png = li.get(f"{link}/pages/{page}.png")
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert _views(service, "view_scan") == [("clerk.li", NO, material)]
        # An unknown material, or one of another case, is no view.
        assert li.get(f"/console/applications/{NO}/materials/999999/pages/1.png").status_code == 404
        assert (
            li.get(f"/console/applications/{MORE[0]}/materials/{material}/pages/1.png").status_code
            == 404
        )
        sign_in(wang, "clerk.wang")
        assert wang.get(f"{link}/pages/1.png").status_code == 200
        assert _views(service, "view_scan") == [
            ("clerk.li", NO, material),
            ("clerk.wang", NO, material),
        ]
        # Within the window the same view; past it a new one.
        start = utcnow()
        service.desk.clock = lambda: start + timedelta(minutes=9)
        assert li.get(f"{link}/pages/1.png").status_code == 200
        assert len(_views(service, "view_scan")) == 2
        service.desk.clock = lambda: start + timedelta(minutes=11)
        assert li.get(f"{link}/pages/1.png").status_code == 200
        assert _views(service, "view_scan")[2:] == [("clerk.li", NO, material)]


def test_unmasking_past_the_signal_tells_the_admins_once_and_past_the_cap_is_refused(app, service):
    limits = service.desk.view_limits
    assert (limits.unmasked_signal, limits.unmasked_cap) == (60, 180)
    _, token = account_with_token(service.db, "sup.api", ["supervisor"])
    url = f"/api/applications/{NO}?unmasked=true"
    with TestClient(app, headers=bearer(token)) as sup:
        for _ in range(60):
            assert sup.get(url).status_code == 200
        assert _security_notices(service) == []
        assert sup.get(url).status_code == 200  # the 61st: the admins are told
        assert _security_notices(service) == [("admin.qi", "audit.unmasked", "sup.api")]
        for _ in range(180 - 61):
            assert sup.get(url).status_code == 200
        refused = sup.get(url)
        assert refused.status_code == 429
        assert "180" in refused.json()["detail"] and "11010519491231002X" not in refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        # Masked, the case still opens; one signal for the whole burst, nothing more recorded.
        assert sup.get(f"/api/applications/{NO}").status_code == 200
        assert len(_views(service, "view_unmasked")) == 180
        assert len(_security_notices(service)) == 1
        # An hour after the first view, views are possible again.
        later = utcnow() + timedelta(hours=1, minutes=1)
        service.desk.clock = lambda: later
        assert sup.get(url).status_code == 200

    with TestClient(app) as admin, TestClient(app) as clerk:
        sign_in(admin, "admin.qi")
        notices = admin.get("/console/notices")
        assert notices.status_code == 200 and 'data-testid="unread">1<' in notices.text
        told = re.findall(r'data-testid="security-notice">([^<]*)<', notices.text)
        assert len(told) == 1 and "sup.api" in told[0]
        sign_in(clerk, "clerk.li")
        assert 'data-testid="security-notice"' not in clerk.get("/console/notices").text


def test_the_console_says_why_a_view_past_the_cap_is_refused(app, service):
    service.desk.view_limits = ViewLimits(scan_signal=2, scan_cap=4, unmasked_cap=1)
    with TestClient(app) as li, TestClient(app) as ma:
        sign_in(li, "clerk.li")
        links = [_scan(li, no) for no in (NO, *MORE)]
        for n, link in enumerate(links[:4]):
            assert li.get(link).status_code == 200
            assert li.get(f"{link}/pages/1.png").status_code == 200
            told = [("admin.qi", "audit.scans", "clerk.li")] if n >= 2 else []
            assert _security_notices(service) == told
        # The fifth material within the hour: refused, saying why, no page served.
        page = li.get(links[4])
        assert page.status_code == 429 and 'data-testid="view-limit"' in page.text
        assert "4 份扫描材料" in page.text and 'data-testid="page"' not in page.text
        png = li.get(f"{links[4]}/pages/1.png")
        assert png.status_code == 429 and png.headers["content-type"].startswith("text/plain")
        assert "Retry-After" in png.headers
        # A material viewed within the dedupe window is still served.
        assert li.get(f"{links[0]}/pages/1.png").status_code == 200
        assert len(_views(service, "view_scan")) == 4

        sign_in(ma, "sup.ma")
        assert ma.get(f"/console/applications/{NO}", params={"unmasked": 1}).status_code == 200
        again = ma.get(f"/console/applications/{NO}", params={"unmasked": 1})
        assert again.status_code == 429 and "11010519491231002X" not in again.text
        assert 'data-testid="view-limit"' in again.text


def test_admins_read_who_viewed_what_and_nobody_else_does(app, service):
    _, admin = account_with_token(service.db, "admin.api", ["admin"])
    _, clerk = account_with_token(service.db, "clerk.api", ["clerk"])
    _, sup = account_with_token(service.db, "sup.api", ["supervisor"])
    with TestClient(app) as li:
        sign_in(li, "clerk.li")
        link = _scan(li, NO)
        li.get(f"{link}/pages/1.png")
    with (
        TestClient(app, headers=bearer(admin)) as auditor,
        TestClient(app, headers=bearer(clerk)) as c,
        TestClient(app, headers=bearer(sup)) as s,
    ):
        assert s.get(f"/api/applications/{NO}?unmasked=true").status_code == 200
        views = auditor.get("/api/audit/views")
        assert views.status_code == 200
        assert [(v["staff"], v["kind"], v["application_no"]) for v in views.json()] == [
            ("sup.api", "unmasked", NO),
            ("clerk.li", "scan", NO),
        ]
        assert views.json()[1]["material_id"] == int(link.rsplit("/", 1)[1])
        assert "11010519491231002X" not in views.text and "张三" not in views.text
        mine = auditor.get("/api/audit/views", params={"staff": "clerk.li"}).json()
        assert [v["staff"] for v in mine] == ["clerk.li"]
        future = (utcnow() + timedelta(minutes=5)).isoformat()
        assert auditor.get("/api/audit/views", params={"since": future}).json() == []
        for refused in (c, s):
            answer = refused.get("/api/audit/views")
            assert answer.status_code == 403 and answer.json()["reason"] == "audit.views"
    with TestClient(app) as stranger:
        assert stranger.get("/api/audit/views").status_code == 401


def test_looking_at_a_case_or_claiming_it_is_not_acting_on_it(app, service):
    """An escalation nobody acted on goes to the supervisors, however often the case was
    viewed, unmasked or claimed in the meantime."""
    job = Escalations(service.db, CN_OFFICIAL, EscalationSettings(timedelta(hours=4)))
    promise_by(service, NO, date.today() - timedelta(days=14), result=date(2099, 12, 31))
    now = utcnow()
    assert job.run(now).raised >= 1
    with TestClient(app) as li, TestClient(app) as ma:
        sign_in(li, "clerk.li")
        link = _scan(li, NO)
        assert li.get(f"{link}/pages/1.png").status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', li.get(link).text).group(1)
        li.post(f"/console/applications/{NO}/claim", data={"csrf_token": csrf})
        sign_in(ma, "sup.ma")
        assert ma.get(f"/console/applications/{NO}", params={"unmasked": 1}).status_code == 200
    assert {a for a, *_ in _actions(service)} >= {"view_scan", "view_unmasked", "claim"}
    job.run(now + timedelta(hours=4, minutes=1))
    with service.db.reading() as session:
        raised = session.scalars(
            select(Escalation.application_no).where(Escalation.level == SUPERVISOR)
        )
        assert NO in set(raised)


def _actions(service) -> list[tuple[str, str]]:
    with service.db.reading() as session:
        return list(session.execute(select(StaffAction.action, StaffAction.application_no)))
