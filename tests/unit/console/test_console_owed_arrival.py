"""A material owed under 容缺, brought later at a terminal (event.supplement_provided): the
case page shows it owed with its due day, then arrived, openable, and in the history."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from console_cases import KEY, PASSWORD, scanned_pdf
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

NO = "AH-T0001-20261120-0001"  # the example's phone ends in 8000


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
            "tolerated_missing": [m.ToleratedMaterial(material_code="lease", working_days=5)],
        }
    )
    svc.ingest.handle_batch([(event.topic(), event.encode())])
    Accounts(svc.db).add("clerk.li", ["clerk"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


def bring(service: BackendService, pdf: bytes) -> None:
    """What a kiosk sends for "bring a missing material": the chunks, then the event."""
    parts = m.blob_chunks("T0002", pdf, 32 * 1024)
    messages: list[m.Message] = [*parts]
    sha = parts[0].sha256
    messages.append(
        m.SupplementProvided(
            terminal_id="T0002",  # another terminal of the fleet
            operation_id="SUP-" + m.new_message_id()[:16],
            application_no=NO,
            phone_tail="8000",
            materials=[
                m.MaterialRef(
                    material_code="lease",
                    sha256=sha,
                    size=len(pdf),
                    content_type="application/pdf",
                    pages=2,
                )
            ],
            provided_at=datetime.now(UTC),
        )
    )
    service.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])


def test_staff_see_the_owed_material_then_its_arrival(service):
    with TestClient(create_app(service)) as client:
        form = client.get("/console/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        client.post(
            "/console/login",
            data={"username": "clerk.li", "password": PASSWORD, "csrf_token": token},
        )
        before = client.get(f"/console/applications/{NO}").text
        owed = re.search(r'data-testid="owed-lease">(.*?)</li>', before, re.S).group(1)
        assert "须于 2026-11-27 前补交" in owed and 'data-testid="arrived"' not in owed
        assert "逾期 2 个工作日以上" in owed  # five working days after 20 November, long past
        assert "应于" in client.get("/console/queue").text  # the queue shows the owed due day

        bring(service, scanned_pdf())

        after = client.get(f"/console/applications/{NO}").text
        owed = re.search(r'data-testid="owed-lease">(.*?)</li>', after, re.S).group(1)
        assert 'data-testid="arrived"' in owed and "逾期" not in owed
        assert 'data-testid="open-lease"' in after  # verified, opens in the viewer
        assert "supplement received: lease" in after
        assert "应于" not in client.get("/console/queue").text  # nothing owed any more
