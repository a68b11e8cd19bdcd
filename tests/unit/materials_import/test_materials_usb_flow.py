"""A material imported from a USB stick travels like a scanned one, as a clean PDF."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from enrolled_terminal import enrolled_offline
from PIL import Image

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from devices.identity.port import IdentityDocument
from terminal.flows.session import FlowError
from terminal.materials.usb_import import import_file
from terminal.node import TerminalNode

ZHANG = IdentityDocument(
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    expiry_date=date(2031, 5, 2),
)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[TerminalNode, EmulatedDevices]]:
    devices = EmulatedDevices()
    devices.reader.place(ZHANG)
    data_dir = enrolled_offline(tmp_path / "T0001")  # never started: the terminal is offline
    node = training_terminal(
        data_dir, devices=devices, clock=lambda: datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    ).node
    yield node, devices
    node.stop()


def _stick(tmp_path: Path) -> Path:
    stick = tmp_path / "stick"
    stick.mkdir()
    page = Image.new("RGB", (850, 1100), "white")
    page.paste((30, 30, 30), (100, 100, 750, 130))
    buf = io.BytesIO()
    page.save(buf, "PDF", resolution=100.0, save_all=True, append_images=[page])
    (stick / "register.pdf").write_bytes(buf.getvalue())
    page.save(stick / "front.jpg", "JPEG")
    (stick / "broken.pdf").write_bytes(b"%PDF-1.7 nothing else")
    return stick


def test_an_imported_material_is_submitted_as_one_clean_pdf_with_its_validity(node, tmp_path):
    node, _devices = node
    stick = _stick(tmp_path)
    flow = node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")

    assert flow.offer_reuse() == []  # offline: nothing offered, nothing waited for
    register = import_file(stick, "register.pdf")
    front = import_file(stick, "front.jpg")
    imported = flow.import_material("household-register", [register])
    id_copy = flow.import_material("id-card-copy", [front])
    flow.finish_materials()
    flow.skip_deposit()
    receipt = flow.submit()

    assert receipt.materials == 2 and receipt.sent_now is False
    data = node.outbox.blob_path(imported.blob.sha256).read_bytes()
    assert len(pdfium.PdfDocument(data)) == imported.pages == 2
    assert len(pdfium.PdfDocument(node.outbox.blob_path(id_copy.blob.sha256).read_bytes())) == 1
    rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
    [event] = [e for e in (m.decode(p) for (p,) in rows) if isinstance(e, m.ApplicationSubmitted)]
    validity = {x.material_code: x.valid_until for x in event.materials}
    # The register for 6 months; the ID copy while the card is valid.
    assert validity == {"household-register": date(2027, 5, 20), "id-card-copy": date(2031, 5, 2)}


def test_a_material_the_item_takes_only_on_paper_or_camera_is_not_imported(node, tmp_path):
    node, _devices = node
    stick = _stick(tmp_path)
    flow = node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("GS-0307")
    flow.enter_phone("13800138000")

    with pytest.raises(FlowError, match="cannot be imported"):
        flow.import_material("licence-original", [import_file(stick, "register.pdf")])
    with pytest.raises(FlowError, match="at least one file"):
        flow.import_material("lease", [])
    assert "licence-original" in flow.missing_materials()
