"""A passport at the kiosk: the typed MRZ opens the chip over PC/SC, then the live face check.

pyscard -> pcscd -> vpcd -> our virtual eMRTD carrying one photo of the holder; the emulated
person in front of the face camera is built from another photo of the same holder.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from emrtd_support import MRZ, passport_photo

from cloud_bridge.link import LinkSettings
from demo_support.samples import sample_bytes
from devices.camera.emulated import GeneratedPageSource
from devices.camera.face_emulator import LivePersonSource
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import VirtualEmrtd
from devices.lock.emulated import EmulatedDoorBoard
from face.decision import FaceDecision, FixedFaceVerifier
from locker.layout import default_layout
from terminal.flows.session import FlowError
from terminal.flows.submission import Step
from terminal.node import TerminalDevices, TerminalNode


def kiosk(tmp_path: Path, person: LivePersonSource) -> TerminalNode:
    devices = TerminalDevices(
        lock=EmulatedDoorBoard(),
        identity_reader=EmrtdReader(),
        face_verifier=FixedFaceVerifier(FaceDecision(False, None, 0.5, False)),  # not used
        face_camera=person,
        document_camera=lambda title, pages: GeneratedPageSource(title, pages),
        live_face_check=True,
        face_rng=random.Random(11),
    )
    return TerminalNode(
        "T0001",
        tmp_path / "terminal",
        devices,
        default_layout(sensed=True),
        pickup_code_key=b"k" * 32,
        link=LinkSettings(port=9),  # no network needed for identity
    )


def test_typed_mrz_opens_the_chip_and_the_holder_passes_the_live_check(tmp_path, insert_card):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg", person="obama2")))
    person = LivePersonSource(sample_bytes("obama"), rng=random.Random(11))
    node = kiosk(tmp_path, person)
    try:
        flow = node.submission()
        document = flow.read_identity(timeout_s=10, mrz_key=MrzKey.from_mrz(MRZ))
        assert document.document_type == "passport"
        assert document.authenticity == "chip_verified"
        decision = flow.verify_face(on_guidance=lambda g: person.show_prompt(g.code))
        assert decision.verified and flow.step == Step.ITEM
    finally:
        node.stop()


def test_a_mistyped_mrz_is_refused_in_the_citizens_words_and_can_be_typed_again(
    tmp_path, insert_card
):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg", person="obama2")))
    node = kiosk(tmp_path, LivePersonSource(sample_bytes("obama")))
    try:
        flow = node.submission()
        right = MrzKey.from_mrz(MRZ)
        wrong = MrzKey(right.document_number, right.birth_date, "991231")
        with pytest.raises(FlowError) as err:
            flow.read_identity(timeout_s=10, mrz_key=wrong)
        assert "L898902C" not in str(err.value)  # no personal data in what the screen shows
        assert flow.step == Step.IDENTITY
        assert flow.read_identity(timeout_s=10, mrz_key=right).document_type == "passport"
    finally:
        node.stop()
