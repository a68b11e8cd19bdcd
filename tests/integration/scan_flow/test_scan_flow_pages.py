"""The submission flow scans through the page pipeline: found, judged, straightened, one PDF."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pytest
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from devices.camera.emulated import EmptyDeskSource, GeneratedPageSource
from devices.camera.port import FrameSource
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityDocument
from face.decision import FaceDecision, FixedFaceVerifier
from terminal.flows.session import FlowError


@dataclass
class DeskDevices(EmulatedDevices):
    """The training device set with the document camera a test chooses."""

    camera_factory: Callable[[str, int], FrameSource] = GeneratedPageSource

    def document_camera(self, title: str, pages: int) -> FrameSource:
        return self.camera_factory(title, pages)


def flow_at_materials(tmp_path: Path, camera_factory):
    doc = IdentityDocument("cn_resident_id", "张三", "11010519491231002X", photo=b"x")
    devices = DeskDevices(
        reader=ScriptedIdentityReader([doc]),
        face=FixedFaceVerifier(FaceDecision(True, 0.3, 0.5, True)),
        camera_factory=camera_factory,
    )
    node = training_terminal(enrolled_offline(tmp_path / "t"), devices=devices).node
    flow = node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    return node, flow


def test_pages_on_the_desk_become_one_straightened_pdf_at_150_dpi(tmp_path):
    node, flow = flow_at_materials(tmp_path, GeneratedPageSource)
    try:
        spec = next(s for s in flow.item.materials if s.pages == 2)
        scanned = flow.scan_material(spec.code)
        assert scanned.pages == 2
        data = node.outbox.blob_path(scanned.blob.sha256).read_bytes()
        assert scanned.blob.content_type == "application/pdf"
        with pikepdf.open(io.BytesIO(data)) as pdf:
            assert len(pdf.pages) == 2
            width_pt = float(pdf.pages[0].mediabox[2])
            assert abs(width_pt / 72 * 25.4 - 210) < 3  # an A4 page, not the desk
    finally:
        node.stop()


def test_an_empty_desk_is_refused_in_the_citizens_words_and_nothing_is_kept(tmp_path):
    node, flow = flow_at_materials(tmp_path, lambda title, pages: EmptyDeskSource((1200, 1600)))
    try:
        spec = flow.item.materials[0]
        with pytest.raises(FlowError, match="No document found"):
            flow.scan_material(spec.code)
        assert spec.code not in flow.scanned
    finally:
        node.stop()
