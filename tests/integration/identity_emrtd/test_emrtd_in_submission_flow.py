"""A passport at the kiosk: the typed MRZ opens the chip over PC/SC, then the live face check.

pyscard -> pcscd -> vpcd -> our virtual eMRTD carrying one photo of the holder; the emulated
person in front of the face camera is built from another photo of the same holder. The kiosk's
reader trusts the test CSCA that issued the chip's document signer, as a kiosk's master list
would; a chip it cannot trace to that CSCA is refused before the face check.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import pytest
from emrtd_support import MRZ, OTHER_MRZ, passport_photo
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource
from devices.identity.emrtd.issuing_state import DocumentSigner, master_list
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.trust import TrustStore, load_master_list
from devices.identity.emrtd.virtual_card import CardFaults, VirtualEmrtd
from face.decision import FaceDecision, FixedFaceVerifier
from terminal.flows.session import FlowError, WrongStep
from terminal.flows.submission import Step
from terminal.node import TerminalNode


@functools.cache
def state_signer() -> DocumentSigner:
    """The issuing state's document signer, under the test CSCA the kiosk trusts."""
    return DocumentSigner.generate("UT", "ecdsa")


def kiosk(tmp_path: Path, person: LivePersonSource) -> TerminalNode:
    trust = TrustStore(load_master_list(master_list([state_signer().issuer])))
    devices = EmulatedDevices(
        reader=EmrtdReader(trust=trust),
        face=FixedFaceVerifier(FaceDecision(False, None, 0.5, False)),  # must not be asked
        live_person=person,
        face_rng=random.Random(11),
    )
    # Never started: no network is needed for identity.
    return training_terminal(enrolled_offline(tmp_path / "terminal"), devices=devices).node


def test_typed_mrz_opens_the_chip_and_the_holder_passes_the_live_check(tmp_path, insert_card):
    insert_card(
        VirtualEmrtd(
            MRZ,
            passport_photo("jpeg", person="obama2"),
            signer=state_signer(),
            chip_authentication="aes",
        )
    )
    person = LivePersonSource(sample_bytes("obama"), rng=random.Random(11))
    node = kiosk(tmp_path, person)
    try:
        flow = node.submission()
        document = flow.read_identity(timeout_s=10, mrz_key=MrzKey.from_mrz(MRZ))
        assert document.document_type == "passport"
        assert document.authenticity == "issuer_verified"
        assert document.chip_proof == "passed"
        decision = flow.verify_face(on_guidance=lambda g: person.show_prompt(g.code))
        assert decision.verified and flow.step == Step.ITEM
    finally:
        node.stop()


def test_a_mistyped_mrz_is_refused_in_the_citizens_words_and_can_be_typed_again(
    tmp_path, insert_card
):
    insert_card(VirtualEmrtd(MRZ, passport_photo("jpeg", person="obama2"), signer=state_signer()))
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


@pytest.mark.parametrize(
    "forgery",
    [
        {"faults": CardFaults(no_sod=True)},  # nothing signs the data groups
        {"signer": DocumentSigner.generate("UT")},  # a document signer of the forger's own
    ],
    ids=["no-sod", "own-signer"],
)
def test_a_forged_chip_with_the_forgers_photo_is_refused_before_the_face_check(
    tmp_path, insert_card, forgery
):
    # The victim's MRZ, the forger's portrait: the live face would match the forger.
    insert_card(VirtualEmrtd(OTHER_MRZ, passport_photo("jpeg", person="obama2"), **forgery))
    node = kiosk(tmp_path, LivePersonSource(sample_bytes("obama"), rng=random.Random(11)))
    try:
        flow = node.submission()
        with pytest.raises(FlowError) as err:
            flow.read_identity(timeout_s=10, mrz_key=MrzKey.from_mrz(OTHER_MRZ))
        assert err.value.key == "card.error.PassportNotVerified"
        assert flow.step == Step.IDENTITY and flow.document is None
        with pytest.raises(WrongStep):
            flow.verify_face()
        rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
        assert not any(isinstance(m.decode(p), m.ApplicationSubmitted) for (p,) in rows)
    finally:
        node.stop()
