"""Pickup of an item that asks for the holder's identity, on a terminal with emulated devices.

The load command names the item and the holder's applicant digest; the citizen types the code,
places a card and passes the live face check (real sample photos, the real face pipeline);
only the holder's card opens the compartment. A code-only item still opens on its code.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from command_delivery import deliver
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import applicant_ref, pickup_code
from cloud_bridge.contract import messages as m
from cloud_bridge.link import LinkSettings
from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource
from devices.identity.port import IdentityDocument
from face.decision import DEFAULT_THRESHOLD, FaceDecision
from locker.compartment import State
from locker.layout import default_layout
from terminal.flows.pickup import PickupRefused, PickupStep
from terminal.flows.session import FlowError
from terminal.flows.staff import StaffMember
from terminal.node import TerminalNode

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

TERMINAL = "T0001"
CODE_KEY = b"c" * 32
APPLICANT_KEY = b"a" * 32
CODE = "482913"
APPLICATION = "AH-T0001-20261118-0007"
HOLDER_NUMBER = "11010519491231002X"
IDENTITY_ITEM = "GS-0307"  # pickup_needs_identity in the default catalog
CODE_ONLY_ITEM = "SB-0203"


def holder_ref(number: str = HOLDER_NUMBER, document_type: str = "cn_resident_id") -> str:
    return applicant_ref.digest(APPLICANT_KEY, document_type, number)


def card(devices: EmulatedDevices, number: str = HOLDER_NUMBER) -> IdentityDocument:
    return IdentityDocument("cn_resident_id", "张三", number, photo=devices.card_photo)


def build(tmp_path: Path, devices: EmulatedDevices | None = None):
    """A training terminal whose enrollment carries the keys above (its broker never runs)."""
    data_dir = enrolled_offline(
        tmp_path / "terminal", TERMINAL, pickup_code_key=CODE_KEY, applicant_key=APPLICANT_KEY
    )
    terminal = training_terminal(data_dir, devices=devices)
    assert terminal.emulated is not None
    return terminal.node, terminal.emulated


def load(node: TerminalNode, item_code: str | None, holder: str | None, load_id: str = "L-1"):
    """What the backend and a clerk do: LoadResult, staff load, SetPickupCode."""
    now = node.clock()
    ack = deliver(
        node,
        m.LoadResult(
            terminal_id=TERMINAL,
            operation_id=load_id,
            load_id=load_id,
            application_no=APPLICATION,
            expires_at=now + timedelta(hours=1),
            item_code=item_code,
            holder_ref=holder,
        ),
    )
    if ack.outcome != m.AckOutcome.DONE:
        return ack
    staff = node.staff(CLERK)
    staff.open_for_load(load_id)
    staff.confirm_loaded(load_id)
    armed = deliver(
        node,
        m.SetPickupCode(
            terminal_id=TERMINAL,
            operation_id=f"{load_id}#1",
            load_id=load_id,
            application_no=APPLICATION,
            code_digest=pickup_code.digest(CODE_KEY, TERMINAL, CODE),
            code_expires_at=now + timedelta(days=3),
            expires_at=now + timedelta(hours=1),
        ),
    )
    assert armed.outcome == m.AckOutcome.DONE, armed.detail
    node.devices.lock.pulses.clear()
    return ack


def slot(node: TerminalNode, compartment_id: str):
    return next(c for c in node.locker.compartments() if c.id == compartment_id)


def picked_up_events(node: TerminalNode) -> list[m.Message]:
    rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
    return [x for x in (m.decode(p) for (p,) in rows) if isinstance(x, m.ResultPickedUp)]


@pytest.fixture
def live(tmp_path):
    devices = EmulatedDevices.with_live_face()
    devices.live_person = LivePersonSource(sample_bytes("obama"), rng=random.Random(7))
    node, devices = build(tmp_path, devices)
    yield node, devices
    node.stop()


def test_the_holder_with_their_card_and_face_opens_the_compartment(live):
    node, devices = live
    compartment = load(node, IDENTITY_ITEM, holder_ref()).result["compartment_id"]
    flow = node.pickup()

    assert flow.enter_code(CODE) is None
    assert flow.step == PickupStep.IDENTITY and flow.needs_identity
    assert devices.board.pulses == []  # nothing opens on the code alone

    devices.reader.place(card(devices))
    flow.read_identity(timeout_s=1)
    decision = flow.verify_face(on_guidance=lambda g: devices.live_person.show_prompt(g.code))
    assert decision.verified and decision.liveness_passed
    assert devices.board.pulses == []  # nor on the face alone

    opened = flow.open_for_holder()

    assert opened.compartment_id == compartment
    assert devices.board.pulses == [(slot(node, compartment).spec.channel, 500)]
    assert slot(node, compartment).state == State.EMPTY
    assert flow.step == PickupStep.OPEN
    assert flow.document is None and flow.face is None  # nothing of the card is kept
    (event,) = picked_up_events(node)
    assert event.load_id == "L-1" and event.compartment_id == compartment


def test_another_persons_card_opens_nothing_and_the_code_stays_valid(live):
    node, devices = live
    compartment = load(node, IDENTITY_ITEM, holder_ref()).result["compartment_id"]
    flow = node.pickup()
    flow.enter_code(CODE)
    # Someone else's card: their face matches their card, but they are not the applicant.
    devices.reader.place(card(devices, number="110105198001010016"))
    flow.read_identity(timeout_s=1)
    flow.verify_face(on_guidance=lambda g: devices.live_person.show_prompt(g.code))

    with pytest.raises(PickupRefused) as refused:
        flow.open_for_holder()

    assert refused.value.reason == "wrong_holder"
    assert "for the applicant" in str(refused.value)
    assert devices.board.pulses == []
    assert slot(node, compartment).state == State.HOLDING_RESULT
    assert node.locker.wrong_code_streak() == 1  # counted like a wrong code
    assert flow.step == PickupStep.ENTER_CODE and flow.document is None
    assert picked_up_events(node) == []
    assert flow.enter_code(CODE) is None  # the code itself still works


def test_a_code_only_item_opens_at_once_as_before(tmp_path):
    node, devices = build(tmp_path)
    try:
        compartment = load(node, CODE_ONLY_ITEM, holder_ref()).result["compartment_id"]
        assert slot(node, compartment).holder_ref is None  # not needed, so not kept
        opened = node.pickup().enter_code(CODE)
        assert opened is not None and opened.compartment_id == compartment
        assert len(devices.board.pulses) == 1
        assert devices.reader.reads == 0
    finally:
        node.stop()


def test_a_face_that_never_matches_ends_in_office_hours_with_the_code_still_valid(tmp_path):
    node, devices = build(tmp_path)  # the single-frame face port, told to refuse
    try:
        devices.face.decision = FaceDecision(False, 0.71, DEFAULT_THRESHOLD, True)
        compartment = load(node, IDENTITY_ITEM, holder_ref()).result["compartment_id"]
        flow = node.pickup()
        flow.enter_code(CODE)
        devices.reader.place(card(devices))
        flow.read_identity(timeout_s=1)
        for _ in range(3):
            with pytest.raises(FlowError):
                flow.verify_face()
        assert flow.step == PickupStep.STAFF_ASSIST
        assert flow.claim is None and flow.document is None
        assert devices.board.pulses == []
        assert node.locker.wrong_code_streak() == 0  # a failed face is not a wrong code
        devices.face.decision = FaceDecision(True, 0.38, DEFAULT_THRESHOLD, True)
        again = node.pickup()
        assert again.enter_code(CODE) is None
        devices.reader.place(card(devices))
        again.read_identity(timeout_s=1)
        again.verify_face()
        assert again.open_for_holder().compartment_id == compartment
    finally:
        node.stop()


def test_no_card_on_the_reader_can_be_retried_and_walking_away_releases_the_claim(tmp_path):
    node, devices = build(tmp_path)
    try:
        load(node, IDENTITY_ITEM, holder_ref())
        flow = node.pickup()
        flow.enter_code(CODE)
        with pytest.raises(FlowError):
            flow.read_identity(timeout_s=0.1)
        assert flow.step == PickupStep.IDENTITY
        flow.abandon()
        records = [r.event for r in node.journal.records()]
        assert records[-1] == "claim_released"
        assert devices.board.pulses == []
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("item_code", "holder", "refused"),
    [
        (IDENTITY_ITEM, None, True),  # the item asks for identity, nobody to compare with
        ("XX-9999", None, True),  # an item this terminal does not know: fail safe
        (None, None, True),  # no item at all: fail safe
        ("XX-9999", "h", False),  # unknown item, but a holder: identity pickup
        (CODE_ONLY_ITEM, None, False),
    ],
)
def test_which_loads_are_taken(tmp_path, item_code, holder, refused):
    node, _devices = build(tmp_path)
    try:
        ack = load(node, item_code, holder_ref() if holder else None)
        if refused:
            assert ack.outcome == m.AckOutcome.REJECTED
            assert ack.detail.startswith("holder_unknown:")
            assert all(c.state == State.EMPTY for c in node.locker.compartments())
        else:
            assert ack.outcome == m.AckOutcome.DONE
            held = slot(node, ack.result["compartment_id"]).holder_ref
            assert held == (holder_ref() if holder else None)
    finally:
        node.stop()


def test_a_terminal_without_the_applicant_key_refuses_identity_loads(tmp_path):
    # Every enrollment bundle carries the key, so the bootstrap never builds such a node: this
    # is the node's own guard, tested on a node made by hand.
    node = TerminalNode(
        TERMINAL,
        tmp_path / "terminal",
        EmulatedDevices().terminal_devices(),
        default_layout(sensed=True),
        pickup_code_key=CODE_KEY,
        link=LinkSettings(host="127.0.0.1", port=9),
    )
    try:
        ack = load(node, IDENTITY_ITEM, holder_ref())
        assert ack.outcome == m.AckOutcome.REJECTED
        assert "applicant key" in ack.detail
    finally:
        node.stop()


def test_a_board_unplugged_before_the_opening_keeps_the_result_and_the_code(tmp_path):
    node, devices = build(tmp_path)
    try:
        compartment = load(node, IDENTITY_ITEM, holder_ref()).result["compartment_id"]
        flow = node.pickup()
        flow.enter_code(CODE)
        devices.reader.place(card(devices))
        flow.read_identity(timeout_s=1)
        flow.verify_face()
        devices.board.unplug()  # its door inputs go with it: nothing says whether it opened

        with pytest.raises(PickupRefused) as refused:
            flow.open_for_holder()

        assert refused.value.reason == "unconfirmed"
        assert flow.step == PickupStep.ENTER_CODE and flow.claim is None
        assert slot(node, compartment).state == State.HOLDING_RESULT
        devices.board.plug()
        assert flow.enter_code(CODE) is None  # the citizen types the code again
        devices.reader.place(card(devices))
        flow.read_identity(timeout_s=1)
        flow.verify_face()
        assert flow.open_for_holder().compartment_id == compartment
    finally:
        node.stop()
