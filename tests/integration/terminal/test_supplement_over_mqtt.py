"""容缺 end to end over the real broker: a material tolerated at submission is brought later at
the kiosk, found by application number and phone tail, and lands on the same application.

A private Mosquitto, the real backend and an enrolled emulated terminal (LocalSite). The
refusals at the terminal (wrong tail, a material not owed, nothing owed) are tested here; the
backend's own checks of the event are in tests/unit/backend/test_backend_supplements.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from allhours.site import LocalSite
from backend.auth.accounts import Accounts
from backend.models import Material, MaterialSupplement, WorkflowHistory
from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from terminal.flows.session import FlowError

pytestmark = pytest.mark.broker

ZHANG = IdentityDocument(
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    birth_date=date(1949, 12, 31),
    expiry_date=date(2036, 3, 1),
)
PHONE = "13800138000"
PASSWORD = "Night-Shift-2026"


def test_a_tolerated_material_brought_later_reaches_the_same_application(tmp_path: Path):
    with LocalSite(tmp_path) as site:
        assert site.backend and site.node and site.devices
        node, devices, db = site.node, site.devices, site.backend.service.db
        # The submission: everything but the lease, which is tolerated (5 working days).
        devices.reader.place(ZHANG)
        flow = node.submission()
        flow.read_identity()
        flow.verify_face()
        flow.choose_item("GS-0307")
        flow.enter_phone(PHONE)
        for code in ("id-card-copy", "application-form", "licence-original"):
            flow.scan_material(code)
        assert flow.tolerate_material("lease") == 5
        flow.finish_materials()
        flow.skip_deposit()
        no = flow.submit().application_no

        def owed_rows():
            with db.transaction() as s:
                return s.scalars(
                    select(MaterialSupplement).where(MaterialSupplement.application_no == no)
                ).all()

        assert wait_until(owed_rows, 30, 0.2), "the application never reached the backend"

        # The same refusal as a progress query for a wrong tail; nothing else owed is taken.
        bring = node.supplement()
        with pytest.raises(FlowError) as wrong:
            bring.find(no, "0000")
        assert wrong.value.key == "supplement.error.not_found"
        [owed] = bring.find(no, PHONE[-4:])
        assert owed.spec.code == "lease" and owed.spec.name_en != "lease"
        with pytest.raises(FlowError) as not_owed:
            bring.scan_material("id-card-copy")
        assert not_owed.value.key == "supplement.error.not_owed"
        with pytest.raises(FlowError):
            bring.send()  # nothing scanned yet
        bring.scan_material("lease")
        receipt = bring.send()
        assert receipt.application_no == no and receipt.materials == ("lease",)

        def attached():
            with db.transaction() as s:
                row = s.scalar(
                    select(Material).where(
                        Material.application_no == no, Material.material_code == "lease"
                    )
                )
                return row if row is not None and row.verified else None

        lease = wait_until(attached, 30, 0.2)
        assert lease is not None, "the lease never reached the application with its file"
        [row] = owed_rows()
        assert row.supplied_at is not None
        with db.transaction() as s:
            notes = list(
                s.scalars(select(WorkflowHistory.note).where(WorkflowHistory.application_no == no))
            )
        assert "supplement received: lease" in notes
        # Staff see it arrive: the case page marks the owed lease as arrived.
        Accounts(db).add("clerk.li", ["clerk"], password=PASSWORD, must_change_password=False)
        with httpx.Client(base_url=site.backend.base_url, timeout=10) as clerk:
            r = clerk.post("/api/session", json={"username": "clerk.li", "password": PASSWORD})
            assert r.status_code == 200, r.text
            page = clerk.get(f"/console/applications/{no}")
            assert page.status_code == 200 and 'data-testid="arrived"' in page.text
        assert wait_until(lambda: node.outbox.backlog() == 0, 30, 0.2), "not all receipted"

        # Once supplied, nothing is owed any more.
        with pytest.raises(FlowError) as nothing:
            node.supplement().find(no, PHONE[-4:])
        assert nothing.value.key == "supplement.error.nothing_owed"
