"""Out of service and back in service on a terminal: what it refuses, what it still allows, what
it reports, and that a restart keeps it. Commands go through the terminal's dispatcher as its
link hands them over once their signature holds (the signature path: tests/integration)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from command_delivery import deliver
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from cloud_bridge.contract import messages as m
from demo_support.tour import SAMPLE_CODE, SAMPLE_PHONE, _arm_pickup
from locker.compartment import State
from locker.errors import CompartmentWithheld, NoCompartmentFree
from locker.layout import Size
from terminal.command_limits import HourlyBudget
from terminal.flows.pickup import PickupRefused
from terminal.service_state import TerminalOutOfService

R = m.ServiceReason


def _command(cls, node, **fields):
    return cls(
        terminal_id=node.terminal_id,
        operation_id=f"OPS-{m.new_message_id()[:12]}",
        expires_at=m.utcnow() + timedelta(minutes=15),
        **fields,
    )


@pytest.fixture
def terminal(tmp_path):
    """make() builds the terminal on the same data directory, as a restart does."""
    data_dir = enrolled_offline(tmp_path / "terminal")
    built = []

    def make():
        t = training_terminal(data_dir)
        built.append(t.node)
        return t

    yield make
    for node in built:
        node.stop()


def _pick_up(node, code: str = SAMPLE_CODE):
    flow = node.pickup()
    flow.enter_code(code, SAMPLE_PHONE[-4:])
    return flow


def test_a_terminal_out_of_service_takes_nothing_new_but_hands_out_results(terminal):
    make = terminal
    t = make()
    node = t.node
    key = t.config.identity.bundle.pickup_code_key
    _arm_pickup(node, key)
    ack = deliver(node, _command(m.OutOfService, node, reason=R.MAINTENANCE, note="printer swap"))
    assert ack.outcome == m.AckOutcome.DONE and ack.result == {
        "scope": "terminal",
        "hold": "closed",
    }

    with pytest.raises(TerminalOutOfService):
        node.submission()
    with pytest.raises(TerminalOutOfService):
        node.supplement()
    load = m.LoadResult(
        terminal_id=node.terminal_id,
        operation_id="L-new",
        load_id="L-new",
        application_no="AH-T0001-20261120-0009",
        expires_at=m.utcnow() + timedelta(minutes=5),
    )
    refused = deliver(node, load)
    assert refused.outcome == m.AckOutcome.REJECTED and "out_of_service" in refused.detail
    assert not any(c.load_id == "L-new" for c in node.locker.compartments())

    report = node.telemetry().service
    assert report.terminal.hold == m.ServiceHold.CLOSED and report.terminal.note == "printer swap"
    assert report.terminal.command_id == ack.command_id

    # The result already inside still goes out: the locker is safe.
    assert node.pickups_open()
    flow = _pick_up(node)
    assert flow.opened is not None and flow.opened.confirmed
    assert not any(c.load_id for c in node.locker.compartments())


def test_a_locked_terminal_or_an_unsafe_locker_hands_out_nothing(terminal):
    make = terminal
    node = make().node
    deliver(node, _command(m.OutOfService, node, reason=R.SECURITY, hold=m.ServiceHold.LOCKED))
    assert not node.pickups_open()
    with pytest.raises(TerminalOutOfService):
        node.pickup()
    deliver(node, _command(m.OutOfService, node, reason=R.DEVICE_FAULT))  # now only closed
    assert node.pickups_open()
    board = node.devices.lock
    real = board.diagnostics
    board.diagnostics = lambda: real() | {"connected": False}  # the board stops answering
    assert not node.pickups_open()


def test_the_out_of_service_survives_a_restart_and_back_in_service_ends_it(terminal):
    make = terminal
    node = make().node
    deliver(node, _command(m.OutOfService, node, reason=R.SITE_CLOSED, note="lobby works"))
    deliver(
        node,
        _command(m.OutOfService, node, compartment_id="A02", reason=R.CLEANING),
    )
    deliver(
        node,
        _command(m.OutOfService, node, compartment_id="A03", reason=R.DEVICE_FAULT, hold="locked"),
    )
    node.stop()

    again = make().node  # the kiosk restarted
    whole = again.out_of_service()
    assert whole is not None and (whole.reason, whole.note) == (R.SITE_CLOSED, "lobby works")
    assert again.locker.held() == {"A02": False, "A03": True}
    assert set(again.telemetry().service.compartments) == {"A02", "A03"}

    ack = deliver(again, _command(m.BackInService, again, reason=R.REPAIRED))
    assert ack.outcome == m.AckOutcome.DONE and again.out_of_service() is None
    deliver(again, _command(m.BackInService, again, compartment_id="A03", reason=R.REPAIRED))
    assert again.locker.held() == {"A02": False}
    again.submission()  # takes submissions again
    twice = deliver(again, _command(m.BackInService, again, reason=R.CHECKED))
    assert twice.outcome == m.AckOutcome.DONE and twice.detail == "was in service already"


def test_a_held_compartment_is_never_given_and_a_locked_one_sends_the_citizen_away(terminal):
    make = terminal
    t = make()
    node = t.node
    key = t.config.identity.bundle.pickup_code_key
    _arm_pickup(node, key)
    holding = next(c.id for c in node.locker.compartments() if c.state == State.HOLDING_RESULT)
    smalls = [c.id for c in node.locker.compartments() if c.state == State.EMPTY]
    for cid in smalls:
        deliver(node, _command(m.OutOfService, node, compartment_id=cid, reason=R.CLEANING))
    with pytest.raises(NoCompartmentFree):
        node.locker.reserve_for_deposit("AH-T0001-20261120-0010", Size("S"))

    deliver(
        node,
        _command(m.OutOfService, node, compartment_id=holding, reason=R.SECURITY, hold="locked"),
    )
    streak = node.locker.wrong_code_streak()
    with pytest.raises(CompartmentWithheld):
        node.locker.check_code(SAMPLE_CODE, SAMPLE_PHONE[-4:])
    assert node.locker.wrong_code_streak() == streak  # the right code is no wrong attempt
    with pytest.raises(PickupRefused) as refused:
        node.pickup().enter_code(SAMPLE_CODE, SAMPLE_PHONE[-4:])
    assert refused.value.reason == "withheld"

    # Only closed: the result inside goes out with its code.
    deliver(node, _command(m.OutOfService, node, compartment_id=holding, reason=R.SECURITY))
    assert _pick_up(node).opened is not None
    assert next(c for c in node.locker.compartments() if c.id == holding).state == State.EMPTY
    journal = [r.event for r in node.journal.records() if r.compartment_id == holding]
    assert journal.count("operator_hold") == 2  # locked, then closed


def test_unknown_compartments_are_refused_and_the_changes_are_capped(terminal):
    make = terminal
    node = make().node
    ack = deliver(
        node, _command(m.OutOfService, node, compartment_id="Z99", reason=R.OTHER, note="x")
    )
    assert ack.outcome == m.AckOutcome.REJECTED and "Z99" in ack.detail
    assert node.telemetry().service.compartments == {}
    node.service_changes = HourlyBudget(2)
    for _ in range(2):
        assert deliver(node, _command(m.BackInService, node, reason=R.CHECKED)).outcome == "done"
    capped = deliver(node, _command(m.OutOfService, node, reason=R.MAINTENANCE))
    assert capped.outcome == m.AckOutcome.REJECTED and "rate_limited" in capped.detail
    assert node.out_of_service() is None


def test_the_contract_wants_a_reason_from_the_list_and_a_note_for_other():
    common = {
        "terminal_id": "T0001",
        "operation_id": "OPS-0123456789ab",
        "expires_at": m.utcnow() + timedelta(minutes=5),
    }
    with pytest.raises(ValueError, match="reason"):
        m.OutOfService(**common)
    with pytest.raises(ValueError, match="needs a note"):
        m.OutOfService(**common, reason="other")
    with pytest.raises(ValueError):
        m.OutOfService(**common, reason="bored")
    with pytest.raises(ValueError):
        m.OutOfService(**common, reason="cleaning", hold="sealed")
    with pytest.raises(ValueError):
        m.OutOfService(**common, reason="cleaning", note="x" * 201)
    ok = m.OutOfService(**common, reason="other", note="water on the floor")
    assert m.decode(ok.encode()) == ok
