"""Bring a missing material by touch: from the progress answer to the owed material scanned and
sent to the same application, over a real broker and the real backend; nothing of the citizen
left on any screen afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from enrolled_terminal import enrolled_at
from sqlalchemy import select
from ui_unit_kiosk import FakeClock, leftovers

from allhours.bootstrap import training_terminal
from backend.enrollment import worker_identity
from backend.models import Material, MaterialSupplement
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples
from cloud_bridge.link import wait_until
from devices.storage.emulated import sample_documents
from terminal.ui.driver import KioskDriver
from terminal.ui.idle import IdleWatch
from terminal.ui.kiosk import Kiosk

NO = "AH-T0001-20261120-0001"  # the canonical submission: phone 13800138000, item HJ-0101
TAIL = "8000"


@pytest.mark.broker
def test_the_owed_material_is_scanned_and_sent_to_its_application(broker, tmp_path: Path):
    backend = BackendService(
        f"sqlite:///{tmp_path / 'backend.sqlite'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.supplement-ui",
        credentials=worker_identity(broker.authority, "backend.supplement-ui"),
        shared_group=None,
    )
    terminal = training_terminal(
        enrolled_at(
            broker.authority,
            tmp_path / "T0001",
            broker_host=broker.host,
            broker_port=broker.port,
        )
    )
    node = terminal.node
    devices = terminal.emulated
    assert devices is not None
    backend.register_terminal("T0001", terminal.config.identity.bundle.pickup_code_key)
    submitted = examples()["event.application_submitted"].model_copy(
        update={
            "reused_materials": [],
            "tolerated_missing": [
                m.ToleratedMaterial(material_code="household-register", working_days=5)
            ],
        }
    )
    backend.ingest.handle_batch([(submitted.topic(), submitted.encode())])
    kiosk = Kiosk(
        node,
        lang="en",
        strict_i18n=True,
        idle=IdleWatch(timeout_s=60, warn_s=10, clock=FakeClock()),
    )
    drv = None
    try:
        backend.start()
        node.start()
        assert node.link.wait_connected(10) and node.link.responses_granted.wait(5)
        drv = KioskDriver(kiosk)
        s = kiosk.screens
        q = s["query"]
        drv.tap(s["home"].choices["query"])
        drv.wait_screen("query")
        drv.type(q.keypad, NO.replace("-", ""))
        drv.tap(q.next_button)
        drv.type(q.tail_keypad, TAIL)
        drv.tap(q.search_button)
        drv.wait_for(lambda: q.bring_button.get_root_window(), what="the bring button")
        drv.tap(q.bring_button)
        drv.wait_screen("supplement")
        sup = s["supplement"]
        row = drv.wait_for(lambda: sup.row_buttons.get("household-register"), what="owed row")
        assert list(sup.row_buttons) == ["household-register"]  # only what is owed
        assert "Household register" in row.text and "2026-11-27" in row.text
        drv.tap(sup.send_button)  # nothing scanned yet: said, nothing sent
        drv.wait_for(
            lambda: sup.error.text == kiosk.t("supplement.error.nothing_scanned"), what="refusal"
        )
        drv.tap(row)  # the kiosk's scan screen, for this owed material only
        drv.wait_screen("scan")
        scan = s["scan"]
        drv.wait_for(lambda: scan.preview.frames > 0, what="a page on screen")
        drv.tap(scan.scan_button)
        drv.wait_screen("supplement", timeout=30)
        row = sup.row_buttons["household-register"]
        assert "✓" in row.text, "the scan is not marked on its row"
        # The citizen takes it from a USB stick instead: the import replaces the scan.
        usb = s["usb_import"]
        usb.poll_s = 0.05
        drv.tap(sup.usb_buttons["household-register"])
        drv.wait_screen("usb_import")
        devices.stick.insert(sample_documents())
        drv.wait_for(lambda: "household-register.pdf" in usb.file_buttons, what="the stick")
        drv.tap(usb.file_buttons["household-register.pdf"])
        drv.wait_for(lambda: usb.state == "preview", what="the preview")
        drv.tap(usb.use_button)
        drv.wait_screen("supplement", timeout=30)
        assert kiosk.supplement is not None
        assert kiosk.supplement.scanned["household-register"].pages == 2  # the stick's file
        drv.tap(sup.send_button)
        drv.wait_for(lambda: sup.hint.text == kiosk.t("supplement.sent", number=NO), what="sent")

        def attached():
            with backend.db.transaction() as session:
                owed = session.scalar(
                    select(MaterialSupplement).where(MaterialSupplement.application_no == NO)
                )
                files = session.scalars(
                    select(Material).where(
                        Material.application_no == NO,
                        Material.material_code == "household-register",
                        Material.verified.is_(True),
                    )
                ).all()
                # The canonical submission's own file never came as chunks: only the new one.
                return owed.supplied_at is not None and len(files) == 1

        assert wait_until(attached, 30, 0.2), "the scan never reached the application"
        drv.tap(sup.finish_button)
        drv.wait_screen("home")
        drv.pump(2)
        assert kiosk.supplement is None
        assert leftovers(kiosk, {NO, NO.replace("-", ""), TAIL}) == []
    finally:
        if drv is not None:
            drv.close()
        node.stop()
        backend.stop()
