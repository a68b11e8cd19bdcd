"""A passport at the kiosk: the typed MRZ opens the chip over PC/SC, then the live face check.

pyscard -> pcscd -> vpcd -> our virtual eMRTD carrying one photo of the holder; the emulated
person in front of the face camera is built from another photo of the same holder.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from emrtd_support import MRZ, passport_photo
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import VirtualEmrtd
from face.decision import FaceDecision, FixedFaceVerifier
from terminal.flows.session import FlowError
from terminal.flows.submission import Step
from terminal.node import TerminalNode


def kiosk(tmp_path: Path, person: LivePersonSource) -> TerminalNode:
    devices = EmulatedDevices(
        reader=EmrtdReader(),
        face=FixedFaceVerifier(FaceDecision(False, None, 0.5, False)),  # must not be asked
        live_person=person,
        face_rng=random.Random(11),
    )
    # Never started: no network is needed for identity.
    return training_terminal(enrolled_offline(tmp_path / "terminal"), devices=devices).node


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
