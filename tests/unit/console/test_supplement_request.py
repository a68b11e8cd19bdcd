"""A supplement request (补正) naming materials: picked on the case page from the item's list,
named in the SMS and in the terminal's status answer, and the clock restarts by itself once
every requested material has arrived at a terminal."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from console_cases import KEY, PASSWORD, csrf_of, scanned_pdf, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.models import (
    Application,
    ApplicationPromise,
    RequestedMaterial,
    WorkflowHistory,
)
from backend.notifications import outbox
from backend.service import BackendService
from backend.staff import REASONS
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

NO = "AH-T0001-20261120-0001"  # the example's phone ends in 8000, its item is HJ-0101


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    for terminal in ("T0001", "T0002"):
        svc.register_terminal(terminal, KEY)
    event = examples()["event.application_submitted"].model_copy(
        update={
            "message_id": m.new_message_id(),
            "materials": [],
            "reused_materials": [],
            "tolerated_missing": [],
        }
    )
    svc.ingest.handle_batch([(event.topic(), event.encode())])
    accounts = Accounts(svc.db)
    accounts.add("clerk.li", ["clerk"], password=PASSWORD, must_change_password=False)
    accounts.add("op.wang", ["operator"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


def act(client, action: str, **fields) -> object:
    page = client.get(f"/console/applications/{NO}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    data = {
        "csrf_token": csrf_of(page),
        "action": action,
        "version": version,
        "idempotency_key": "k" + m.new_message_id()[:20],
        **fields,
    }
    return client.post(f"/console/applications/{NO}/act", data=data, follow_redirects=False)


def bring(service: BackendService, *codes: str, tail: str = "8000"):
    """What a kiosk sends when the citizen brings materials: the chunks, then the event."""
    messages: list[m.Message] = []
    refs = []
    for n, code in enumerate(codes):
        pdf = scanned_pdf(n + 1)
        sha = hashlib.sha256(pdf).hexdigest()
        messages.append(
            m.BlobChunk(
                terminal_id="T0002",
                sha256=sha,
                index=0,
                count=1,
                total_size=len(pdf),
                data=base64.b64encode(pdf).decode(),
            )
        )
        refs.append(
            m.MaterialRef(
                material_code=code,
                sha256=sha,
                size=len(pdf),
                content_type="application/pdf",
                pages=n + 1,
            )
        )
    messages.append(
        m.SupplementProvided(
            terminal_id="T0002",
            operation_id="SUP-" + m.new_message_id()[:16],
            application_no=NO,
            phone_tail=tail,
            materials=refs,
            provided_at=datetime.now(UTC),
        )
    )
    return service.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])


def status_answer(service: BackendService) -> m.ApplicationStatus:
    query = m.ApplicationStatusQuery(
        terminal_id="T0002",
        operation_id="STATUS-" + m.new_message_id()[:12],
        application_no=NO,
        phone_tail="8000",
        expires_at=datetime.now(UTC) + timedelta(minutes=1),
    )
    with service.db.transaction() as session:
        answer = service.ingest.progress.answer(session, query)
    assert answer is not None
    return answer


def state(service) -> str:
    with service.db.transaction() as session:
        return session.get(Application, NO).status


def test_the_request_names_materials_and_their_arrival_restarts_the_clock(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        assert act(client, "accept").status_code == 303
        form = client.get(f"/console/applications/{NO}").text
        # The item's list (HJ-0101: ID card copy, household register) to tick from.
        assert 'data-testid="ask-id-card-copy"' in form
        assert 'data-testid="ask-household-register"' in form
        r = act(
            client,
            "request_supplement",
            reason="unclear_scan",
            note="第二页模糊，请联系 139-0000-1111",
            materials=["household-register", "id-card-copy"],
        )
        assert r.status_code == 303, r.text
        assert state(service) == "supplement_requested"

        with service.db.transaction() as session:
            sms = outbox.listing(session, application_no=NO)[0]
            assert sms["kind"] == "supplement_requested"
            # Catalog names and the fixed reason; the clerk's note never reaches the SMS.
            assert sms["params"]["materials"] == "户口簿 身份证复印件"
            assert sms["params"]["reason"] == "扫描件不清晰"
            assert "139" not in str(sms)
            paused_on = session.get(ApplicationPromise, NO).paused_on
            assert paused_on is not None

        answer = status_answer(service)
        assert answer.state == m.CitizenState.SUPPLEMENT_NEEDED
        assert answer.requested == [
            m.RequestedMaterial(material_code="household-register", reason="unclear_scan"),
            m.RequestedMaterial(material_code="id-card-copy", reason="unclear_scan"),
        ]

        # One of the two arrives: still waiting for the other, the clock still stopped.
        assert bring(service, "household-register").rejected == 0
        assert state(service) == "supplement_requested"
        assert [x.material_code for x in status_answer(service).requested] == ["id-card-copy"]
        page = client.get(f"/console/applications/{NO}").text
        row = re.search(r'data-testid="requested-household-register">(.*?)</li>', page, re.S)
        assert 'data-testid="requested-arrived"' in row.group(1)
        row = re.search(r'data-testid="requested-id-card-copy">(.*?)</li>', page, re.S)
        assert 'data-testid="requested-waiting"' in row.group(1)

        # The last one arrives: back to review by itself, the clock running, audited.
        assert bring(service, "id-card-copy").rejected == 0
        assert state(service) == "under_review"
        with service.db.transaction() as session:
            promise = session.get(ApplicationPromise, NO)
            assert promise.paused_on is None
            last = session.scalars(
                select(WorkflowHistory)
                .where(WorkflowHistory.application_no == NO)
                .order_by(WorkflowHistory.id.desc())
            ).first()
            assert (last.from_state, last.to_state, last.actor) == (
                "supplement_requested",
                "under_review",
                "terminal:T0002",
            )
            assert "clock restarted" in last.note
        answer = status_answer(service)
        assert answer.state == m.CitizenState.UNDER_REVIEW and answer.requested == []
        page = client.get(f"/console/applications/{NO}").text
        assert "every requested material arrived" in page
        assert 'data-testid="open-id-card-copy"' in page  # verified, opens in the viewer


def test_staff_resuming_by_hand_ends_the_request(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        act(client, "accept")
        act(client, "request_supplement", reason="missing_material", materials=["id-card-copy"])
        assert act(client, "resume").status_code == 303
        assert state(service) == "under_review"
        assert status_answer(service).requested == []
        with service.db.transaction() as session:
            row = session.scalars(select(RequestedMaterial)).one()
            assert row.closed_at is not None and row.supplied_at is None
        page = client.get(f"/console/applications/{NO}").text
        assert "已不再要求" in page
    # Brought after the request ended: not owed any more, refused, and the case unchanged.
    assert bring(service, "id-card-copy").rejected == 1
    assert state(service) == "under_review"


def test_a_request_must_name_materials_of_the_item_and_a_fixed_reason(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        act(client, "accept")
        for fields in (
            {"reason": "unclear_scan"},  # no material named
            {"reason": "unclear_scan", "materials": ["marriage-certificate"]},  # not HJ-0101's
            {"reason": "unclear_scan", "materials": ["id-card-copy", "id-card-copy"]},
            {"reason": "unclear_scan", "materials": [f"m{n}" for n in range(21)]},
            {"reason": "unclear_scan", "materials": ["<script>"]},
        ):
            r = act(client, "request_supplement", **fields)
            assert r.status_code == 422, fields
            assert "请从列表中勾选需补正的材料" in r.text
        r = act(client, "request_supplement", materials=["id-card-copy"])
        assert r.status_code == 422 and "请从列表中选择原因" in r.text
        assert state(service) == "accepted"
        with service.db.transaction() as session:
            assert session.scalars(select(RequestedMaterial)).all() == []
            assert [x["kind"] for x in outbox.listing(session, application_no=NO)] == [
                "accepted",
                "submitted",
            ]


def test_a_material_not_requested_is_refused_and_nothing_changes(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        act(client, "accept")
        act(client, "request_supplement", reason="missing_material", materials=["id-card-copy"])
    assert bring(service, "household-register").rejected == 1
    assert bring(service, "id-card-copy", tail="0000").rejected == 1  # not the applicant's
    assert state(service) == "supplement_requested"
    assert [x.material_code for x in status_answer(service).requested] == ["id-card-copy"]


def test_the_console_reasons_are_the_contract_reasons():
    """A reason staff can pick is one the terminal can word, and no other."""
    assert tuple(r.code for r in REASONS["request_supplement"]) == get_args(m.SupplementReason)
