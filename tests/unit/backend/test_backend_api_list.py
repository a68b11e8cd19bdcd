"""GET /api/applications: the applicant masked for every role, and the list bounded and paged
(`limit`, `after`), on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import Application, StaffAction
from backend.service import BackendService
from cloud_bridge.contract.messages import IdDocumentType

NO = "AH-T0001-20261120-0001"
PASSPORT_NO_APP = "AH-T0001-20261120-0002"  # a passport holder's case (the `passport` fixture)
COPIES = 120  # with NO: 121 cases, more than one default page
URL = "/api/applications"


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    svc.ingest.handle_batch([(e.topic(), e.encode()) for e in [submission(NO)]])
    yield svc
    svc.stop()


@pytest.fixture
def api(service):
    """A clerk's client; `api.as_role("supervisor")` gives a supervisor's headers."""
    tokens = {
        role: bearer(account_with_token(service.db, f"{role}.one", [role])[1])
        for role in ("clerk", "supervisor")
    }
    with TestClient(create_app(service), headers=tokens["clerk"]) as c:
        c.as_role = tokens.__getitem__
        yield c


@pytest.fixture
def passport(service) -> str:
    """A second case, its applicant identified by passport E12345678."""
    base = submission(PASSPORT_NO_APP)
    event = base.model_copy(
        update={
            "applicant": base.applicant.model_copy(
                update={
                    "id_document_type": IdDocumentType.PASSPORT,
                    "id_number": "E12345678",
                    "name": "ZHANG SAN",
                }
            )
        }
    )
    service.ingest.handle_batch([(event.topic(), event.encode())])
    return PASSPORT_NO_APP


@pytest.fixture
def many(service) -> list[str]:
    """COPIES more cases beside NO, submitted over ten minutes with many on the same second
    and not in number order: every application number, in the list's order."""
    with service.db.transaction() as s:
        first = s.get(Application, NO)
        base = {c.key: getattr(first, c.key) for c in Application.__table__.columns}
        rows = [
            base
            | {
                "application_no": f"AH-T0001-20261121-{i:04d}",
                "applicant_name": "欧阳娜娜" if i % 2 else "李四",
                "phone": f"139{i:08d}",
                "submitted_at": first.submitted_at + timedelta(minutes=(i * 7) % 10),
            }
            for i in range(COPIES)
        ]
        s.execute(Application.__table__.insert(), rows)
    with service.db.reading() as s:
        return list(
            s.scalars(
                select(Application.application_no).order_by(
                    Application.submitted_at, Application.application_no
                )
            )
        )


def _unmasked_views(service) -> int:
    with service.db.reading() as s:
        return s.scalar(
            select(func.count())
            .select_from(StaffAction)
            .where(StaffAction.action == "view_unmasked")
        )


def test_a_clerk_sees_the_applicant_masked_as_on_the_case(api):
    listed = api.get(URL).json()
    detail = api.get(f"{URL}/{NO}").json()

    assert listed[0]["applicant"] == {
        "name": "张*",
        "id_document_type": "cn_resident_id",
        "id_number": "1101**********002X",
        "phone": "138****8000",
    }
    assert listed[0]["applicant"] == detail["applicant"]


def test_a_passport_number_is_masked_by_the_passports_rule_in_the_list_and_the_case(api, passport):
    """Not the ID card's 4 and 4, which showed E123*5678: 8 of the 9 characters."""
    listed = {row["application_no"]: row["applicant"] for row in api.get(URL).json()}
    detail = api.get(f"{URL}/{passport}").json()["applicant"]

    assert (
        listed[passport]
        == detail
        == {
            "name": "Z********",
            "id_document_type": "passport",
            "id_number": "E1*****78",
            "phone": "138****8000",
        }
    )
    # The resident ID card beside it keeps its own rule.
    assert listed[NO]["id_number"] == "1101**********002X"
    supervisor = api.as_role("supervisor")
    full = api.get(f"{URL}/{passport}", params={"unmasked": "true"}, headers=supervisor).json()
    assert full["applicant"]["id_number"] == "E12345678"


def test_a_supervisor_sees_the_list_masked_too_and_unmasked_is_for_one_case_only(
    service, api, many
):
    supervisor = api.as_role("supervisor")
    listed = api.get(URL, params={"limit": 500, "unmasked": "true"}, headers=supervisor).json()

    assert len(listed) == COPIES + 1
    for row in listed:
        applicant = row["applicant"]
        assert applicant["name"] in ("张*", "欧***", "李*"), applicant
        assert re.fullmatch(r"13[89]\*{4}\d{4}", applicant["phone"]), applicant
        assert applicant["id_number"] == "1101**********002X"
    # Nothing in full, so nothing to audit; the one case in full is its own, audited request.
    assert _unmasked_views(service) == 0
    full = api.get(f"{URL}/{NO}", params={"unmasked": "true"}, headers=supervisor).json()
    assert full["applicant"]["phone"] == "13800138000"
    assert _unmasked_views(service) == 1


def test_a_page_is_100_cases_unless_limit_says_otherwise_and_at_most_500(api, many):
    assert [a["application_no"] for a in api.get(URL).json()] == many[:100]
    assert [a["application_no"] for a in api.get(URL, params={"limit": 3}).json()] == many[:3]
    assert len(api.get(URL, params={"limit": 500}).json()) == COPIES + 1

    for limit in (0, -1, 501, 100000, "many"):
        r = api.get(URL, params={"limit": limit})
        assert r.status_code == 422, (limit, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", "limit"]
    assert (
        "less than or equal to 500"
        in api.get(URL, params={"limit": 501}).json()["detail"][0]["msg"]
    )


def test_pages_after_the_last_number_return_the_rest_without_overlap_or_gap(api, many):
    seen: list[str] = []
    pages = 0
    params: dict[str, object] = {"limit": 7}
    while pages <= len(many) // 7:  # bounded: a list that ignores `after` ends the loop too
        page = [a["application_no"] for a in api.get(URL, params=params).json()]
        seen += page
        pages += 1
        if len(page) < 7:
            break
        params["after"] = page[-1]

    assert seen == many
    assert pages == len(many) // 7 + 1
    assert api.get(URL, params={"after": many[-1]}).json() == []


def test_paging_keeps_the_status_filter_and_survives_the_last_case_moving_on(api, many):
    for no in many[::3]:
        assert api.post(f"{URL}/{no}/accept", json={"note": ""}).status_code == 200
    accepted = many[::3]

    first = [
        a["application_no"] for a in api.get(URL, params={"status": "accepted", "limit": 5}).json()
    ]
    assert first == accepted[:5]
    # The page's last case moves on: the next page still starts right behind it.
    assert api.post(f"{URL}/{first[-1]}/review", json={"note": ""}).status_code == 200
    rest = api.get(URL, params={"status": "accepted", "after": first[-1], "limit": 500}).json()
    assert [a["application_no"] for a in rest] == accepted[5:]
    assert {a["status"] for a in rest} == {"accepted"}


def test_an_unknown_or_malformed_after_is_422(api):
    r = api.get(URL, params={"after": "AH-T0001-20991231-0001"})
    assert r.status_code == 422
    assert r.json() == {"detail": "after: no application AH-T0001-20991231-0001"}
    for bad in ("", "AH\x00", "AH T0001", "A" * 65):
        assert api.get(URL, params={"after": bad}).status_code == 422, repr(bad)
