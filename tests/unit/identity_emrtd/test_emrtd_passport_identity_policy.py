"""A passport stands as identity at the kiosk only when it is traced to its issuing state.

The review's forgery: a chip carrying a victim's MRZ and the forger's own photo, with no EF.SOD
or an EF.SOD signed by a document signer of the forger's own. The face matches (the photo is
the forger's), so only the chip's authenticity can stop it. Each forged chip goes through the
real EmrtdReader (DirectConnection to the virtual chip) into a training terminal's submission
flow, whose reader trusts one test CSCA, as a kiosk's master list would: it is refused at
`read_identity` with the citizen's words, before the face step, and nothing reaches the outbox.
A genuine chip under that CSCA is taken.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from enrolled_terminal import enrolled_offline
from PIL import Image

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from devices.identity.emrtd.errors import CorruptData, PassportNotVerified
from devices.identity.emrtd.issuing_state import CountrySigningCa, DocumentSigner, master_list
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey, compose_td3
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.trust import TrustStore, load_master_list
from devices.identity.emrtd.virtual_card import CardFaults, DirectConnection, VirtualEmrtd
from devices.identity.port import IdentityDocument
from face.decision import FaceDecision, FixedFaceVerifier
from terminal.coded import english
from terminal.flows.identity import card_error_key, travel_document_refusal
from terminal.flows.session import FlowError, WrongStep
from terminal.flows.submission import Step
from terminal.node import TerminalNode

# The victim: the name and number the forger wants the application filed under.
VICTIM_MRZ = compose_td3(
    issuing_state="UTO",
    surname="MUSTERMANN",
    given_names="ERIKA",
    document_number="C01X00T47",
    nationality="UTO",
    birth_date="640812",
    sex="F",
    expiry_date="310101",
)
VICTIM_KEY = MrzKey.from_mrz(VICTIM_MRZ)
# The face step always matches: the forged chip carries the forger's own photo.
MATCH = FaceDecision(matched=True, distance=0.31, threshold=0.5, liveness_passed=True)
REFUSED = "card.error.PassportNotVerified"


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (120, 90, 70)).save(out, "JPEG")
    return out.getvalue()


@functools.cache
def state_signer() -> DocumentSigner:
    """The issuing state's document signer, under the CSCA the kiosk's master list holds."""
    return DocumentSigner.generate("UT", "ecdsa")


@functools.cache
def kiosk_trust() -> TrustStore:
    """What identity.master_lists loads on a kiosk: here one master list with the test CSCA."""
    return TrustStore(load_master_list(master_list([state_signer().issuer])))


class ChipOnReader:
    """The kiosk's reader port on one virtual chip: the real EmrtdReader, no pcscd."""

    needs_mrz_key = True

    def __init__(self, card: VirtualEmrtd, trust: TrustStore | None):
        self.card = card
        self.reader = EmrtdReader(trust=trust)

    def read(self, timeout_s: float, mrz_key: MrzKey | None = None) -> IdentityDocument:
        return self.reader.read_connection(DirectConnection(self.card), mrz_key)

    def diagnostics(self) -> dict[str, object]:
        return self.reader.diagnostics()


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator:
    """kiosk(card, trust=the test CSCA): a training terminal's node reading `card`."""
    nodes: list[TerminalNode] = []

    def build(card: VirtualEmrtd, trust: TrustStore | None = None) -> TerminalNode:
        devices = EmulatedDevices(
            reader=ChipOnReader(card, kiosk_trust() if trust is None else trust),
            face=FixedFaceVerifier(MATCH),
        )
        data_dir = enrolled_offline(tmp_path / f"terminal{len(nodes)}")
        nodes.append(training_terminal(data_dir, devices=devices).node)
        return nodes[-1]

    yield build
    for node in nodes:
        node.stop()


def _submitted(node: TerminalNode) -> list[m.ApplicationSubmitted]:
    rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
    return [x for x in (m.decode(p) for (p,) in rows) if isinstance(x, m.ApplicationSubmitted)]


def _submit(node: TerminalNode):
    """A whole submission: the read, the face, an item, the phone, the materials."""
    flow = node.submission()
    document = flow.read_identity(timeout_s=5, mrz_key=VICTIM_KEY)
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    for code in flow.missing_materials():
        flow.scan_material(code)
    flow.finish_materials()
    if flow.step == Step.DEPOSIT:
        flow.skip_deposit()
    return document, flow.submit()


# -- the genuine passport ---------------------------------------------------------------------


def test_a_genuine_passport_under_the_configured_csca_is_taken_and_submitted(kiosk):
    card = VirtualEmrtd(VICTIM_MRZ, _photo(), signer=state_signer(), chip_authentication="aes")
    node = kiosk(card)

    document, receipt = _submit(node)

    assert (document.authenticity, document.chip_proof) == ("issuer_verified", "passed")
    [submitted] = _submitted(node)
    assert submitted.application_no == receipt.application_no
    assert submitted.applicant.name == "MUSTERMANN ERIKA"


@pytest.mark.parametrize(
    ("options", "proof"),
    [
        ({"chip_authentication": "3des"}, "passed"),
        ({"active_authentication": "ecdsa"}, "passed"),
        ({"active_authentication": "rsa"}, "passed"),
        ({}, "not offered"),  # an older passport: no key to prove itself with
    ],
    ids=["chip-authentication", "active-authentication-ecdsa", "active-authentication-rsa", "none"],
)
def test_a_genuine_passport_reaches_the_face_step(kiosk, options, proof):
    node = kiosk(VirtualEmrtd(VICTIM_MRZ, _photo(), signer=state_signer(), **options))
    flow = node.submission()

    document = flow.read_identity(timeout_s=5, mrz_key=VICTIM_KEY)

    assert (document.authenticity, document.chip_proof) == ("issuer_verified", proof)
    assert flow.step == Step.FACE


# -- forged and unverifiable chips --------------------------------------------------------------


def _forger_signer_with_the_states_certificate() -> DocumentSigner:
    """The state's signer certificate in EF.SOD, the forger's key under it."""
    genuine = state_signer()
    return DocumentSigner(DocumentSigner.generate("UT").key, genuine.certificate, genuine.scheme)


FORGERIES = {
    # No EF.SOD: nothing signs the victim's DG1 or the forger's DG2 ("chip_read").
    "no-sod": lambda: VirtualEmrtd(VICTIM_MRZ, _photo(), faults=CardFaults(no_sod=True)),
    # EF.SOD signed by the forger's own document signer, under a CSCA of the forger's own that
    # even bears the state's name: the hashes and the signature hold ("chip_verified").
    "own-signer": lambda: VirtualEmrtd(VICTIM_MRZ, _photo(), signer=DocumentSigner.generate("UT")),
    "own-signer-with-chip-authentication": lambda: VirtualEmrtd(
        VICTIM_MRZ, _photo(), signer=DocumentSigner.generate("UT"), chip_authentication="aes"
    ),
    # A genuine EF.SOD, the portrait swapped afterwards: DG2 does not match its hash.
    "dg2-swapped": lambda: VirtualEmrtd(
        VICTIM_MRZ, _photo(), signer=state_signer(), faults=CardFaults(tamper_data_group=2)
    ),
    "dg1-changed": lambda: VirtualEmrtd(
        VICTIM_MRZ, _photo(), signer=state_signer(), faults=CardFaults(tamper_data_group=1)
    ),
    # The state's certificate in EF.SOD, the signature made with another key.
    "signature-forged": lambda: VirtualEmrtd(
        VICTIM_MRZ, _photo(), signer=_forger_signer_with_the_states_certificate()
    ),
    # Traced to the state, but the chip offers Active Authentication no reader can check: a
    # copy of it would go unnoticed.
    "unchecked-active-authentication": lambda: VirtualEmrtd(
        VICTIM_MRZ,
        _photo(),
        signer=state_signer(),
        active_authentication="ecdsa",
        faults=CardFaults(no_aa_info=True),
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_chip_is_refused_before_the_face_and_nothing_is_submitted(kiosk, forgery, caplog):
    node = kiosk(FORGERIES[forgery]())
    flow = node.submission()

    with caplog.at_level(logging.INFO), pytest.raises(FlowError) as refused:
        flow.read_identity(timeout_s=5, mrz_key=VICTIM_KEY)

    assert refused.value.key == REFUSED
    assert "resident ID card" in str(refused.value) and "office hours" in str(refused.value)
    assert flow.step == Step.IDENTITY and flow.document is None
    with pytest.raises(WrongStep):
        flow.verify_face()
    with pytest.raises(WrongStep):
        flow.choose_item("HJ-0101")
    assert _submitted(node) == []
    # The staff's log says why, without the holder's data.
    logged = caplog.text
    assert "refused" in logged
    for personal in ("MUSTERMANN", "ERIKA", "C01X00T47", "640812"):
        assert personal not in logged


def test_without_any_csca_configured_even_a_genuine_passport_is_refused(kiosk, caplog):
    card = VirtualEmrtd(VICTIM_MRZ, _photo(), signer=state_signer(), chip_authentication="aes")
    node = kiosk(card, trust=TrustStore(()))  # no master list: nothing to trace it to
    flow = node.submission()

    with caplog.at_level(logging.WARNING), pytest.raises(FlowError) as refused:
        flow.read_identity(timeout_s=5, mrz_key=VICTIM_KEY)

    assert refused.value.key == REFUSED
    assert "authenticity chip_verified" in caplog.text
    assert flow.document is None and _submitted(node) == []


@pytest.mark.parametrize("fault", ["cloned_chip", "hide_dg14"])
def test_a_copy_of_a_genuine_chip_is_refused_as_not_genuine(kiosk, fault):
    card = VirtualEmrtd(
        VICTIM_MRZ,
        _photo(),
        signer=state_signer(),
        chip_authentication="aes",
        faults=CardFaults(**{fault: True}),
    )
    node = kiosk(card)
    flow = node.submission()

    with pytest.raises(FlowError) as refused:
        flow.read_identity(timeout_s=5, mrz_key=VICTIM_KEY)

    assert refused.value.key == "card.error.ChipAuthenticationFailed"
    assert flow.document is None and _submitted(node) == []


# -- the reader's part ----------------------------------------------------------------------------


def test_the_reader_reports_a_chip_without_sod_as_chip_read():
    reader = EmrtdReader(trust=kiosk_trust())
    card = VirtualEmrtd(SPECIMEN_MRZ, _photo(), faults=CardFaults(no_sod=True))

    document = reader.read_connection(DirectConnection(card), MrzKey.from_mrz(SPECIMEN_MRZ))

    assert (document.authenticity, document.chip_proof) == ("chip_read", "not offered")
    assert reader.last_read_report["sod"] == {"present": False}
    assert travel_document_refusal(document) is not None


@pytest.mark.parametrize("group", [1, 2])
def test_a_data_group_that_does_not_match_the_sod_is_worded_as_not_verified(group):
    reader = EmrtdReader(trust=kiosk_trust())
    card = VirtualEmrtd(
        SPECIMEN_MRZ, _photo(), signer=state_signer(), faults=CardFaults(tamper_data_group=group)
    )

    with pytest.raises(PassportNotVerified, match=f"DG{group} does not match") as caught:
        reader.read_connection(DirectConnection(card), MrzKey.from_mrz(SPECIMEN_MRZ))

    assert isinstance(caught.value, CorruptData)  # still the documented type
    assert card_error_key(caught.value) == REFUSED


def test_an_offered_proof_the_reader_cannot_run_is_not_run():
    reader = EmrtdReader(trust=kiosk_trust())
    card = VirtualEmrtd(
        SPECIMEN_MRZ,
        _photo(),
        signer=state_signer(),
        active_authentication="ecdsa",
        faults=CardFaults(no_aa_info=True),
    )

    document = reader.read_connection(DirectConnection(card), MrzKey.from_mrz(SPECIMEN_MRZ))

    assert document.authenticity == "issuer_verified"
    assert document.chip_proof == "not run"
    assert reader.last_read_report["active_authentication"].startswith("not run")


def test_the_reader_says_how_many_cscas_it_trusts():
    assert EmrtdReader().diagnostics()["trusted_cscas"] == 0
    assert EmrtdReader(trust=kiosk_trust()).diagnostics()["trusted_cscas"] == 1


# -- the policy itself -----------------------------------------------------------------------------

PASSPORT = IdentityDocument(
    document_type="passport",
    name="MUSTERMANN ERIKA",
    number="C01X00T47",
    authenticity="issuer_verified",
    chip_proof="passed",
)


@pytest.mark.parametrize(
    ("changes", "taken"),
    [
        ({}, True),
        ({"chip_proof": "not offered"}, True),
        ({"chip_proof": "not run"}, False),
        ({"chip_proof": None}, False),
        ({"authenticity": "chip_verified"}, False),
        ({"authenticity": "chip_read"}, False),
        ({"authenticity": "unverified"}, False),
        ({"document_type": "other", "authenticity": "chip_verified"}, False),
        ({"document_type": "other"}, True),
        # The resident ID card's path is unchanged: its reader checks it.
        ({"document_type": "cn_resident_id", "authenticity": "chip_verified"}, True),
        ({"document_type": "cn_resident_id", "authenticity": "unverified"}, True),
    ],
)
def test_only_a_passport_traced_to_its_state_and_not_a_copy_is_taken(changes, taken):
    document = replace(PASSPORT, **changes)
    reason = travel_document_refusal(document)
    assert (reason is None) is taken
    if reason is not None:
        assert document.name not in reason and document.number not in reason


def test_the_refusal_is_worded_in_both_languages():
    from terminal.ui.i18n import Translator

    assert english(REFUSED) != REFUSED
    assert "护照" in Translator("zh")(REFUSED)


def test_a_csca_of_the_same_name_is_not_the_configured_one():
    impostor = CountrySigningCa.generate("UT")  # same subject as the state's test CSCA
    assert impostor.certificate.subject == state_signer().issuer.certificate.subject
    chain = kiosk_trust().check_signer(impostor.issue().certificate)
    assert not chain.trusted
