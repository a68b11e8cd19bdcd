"""Result pickup through a real TerminalNode: commands arm the code, the keypad opens the door."""

from __future__ import annotations

from datetime import timedelta

import pytest
from command_delivery import deliver
from terminal_unit_kiosk import KEY, TERMINAL, Kiosk

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code
from locker.compartment import State
from terminal.flows.pickup import PickupRefused, PickupStep
from terminal.flows.staff import StaffMember

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

CODE = "482913"
APPLICATION = "AH-T0001-20261118-0007"


def _load_result(
    kiosk: Kiosk,
    load_id: str = "L-7f3a9c",
    code: str = CODE,
    valid_for: timedelta = timedelta(days=3),
) -> str:
    """What the backend and a clerk do: LoadResult, staff load, SetPickupCode."""
    node, now = kiosk.node, kiosk.clock()
    loaded = deliver(
        node,
        m.LoadResult(
            terminal_id=TERMINAL,
            operation_id=load_id,
            load_id=load_id,
            application_no=APPLICATION,
            expires_at=now + timedelta(hours=1),
            item_code="SB-0203",  # collected with the code alone
        ),
    )
    assert loaded.outcome == m.AckOutcome.DONE, loaded.detail
    compartment = loaded.result["compartment_id"]
    staff = node.staff(CLERK)
    assert staff.open_for_load(load_id) == compartment
    assert staff.confirm_loaded(load_id).id == compartment
    armed = deliver(
        node,
        m.SetPickupCode(
            terminal_id=TERMINAL,
            operation_id=f"{load_id}#1",
            load_id=load_id,
            application_no=APPLICATION,
            code_digest=pickup_code.digest(KEY, TERMINAL, code),
            code_expires_at=now + valid_for,
            expires_at=now + timedelta(hours=1),
        ),
    )
    assert armed.outcome == m.AckOutcome.DONE, armed.detail
    assert armed.result == {"compartment_id": compartment}
    return compartment


def _slot(kiosk: Kiosk, compartment: str):
    return next(c for c in kiosk.node.locker.compartments() if c.id == compartment)


def test_staff_load_pulses_the_reserved_compartment_and_reports_it(kiosk: Kiosk):
    compartment = _load_result(kiosk)

    assert kiosk.board.pulses == [(kiosk.channel_of(compartment), 500)]
    [loaded] = kiosk.messages(m.ResultLoaded)
    assert (loaded.load_id, loaded.compartment_id, loaded.application_no) == (
        "L-7f3a9c",
        compartment,
        APPLICATION,
    )
    assert _slot(kiosk, compartment).state == State.HOLDING_RESULT


def test_right_code_pulses_exactly_that_compartment_and_reports_one_pickup(kiosk: Kiosk):
    _load_result(kiosk, "L-other", code="111111")
    compartment = _load_result(kiosk)
    kiosk.board.pulses.clear()
    flow = kiosk.node.pickup()

    opened = flow.enter_code(f" {CODE} ")

    assert opened.compartment_id == compartment
    assert kiosk.board.pulses == [(kiosk.channel_of(compartment), 500)]
    [picked] = kiosk.messages(m.ResultPickedUp)
    assert (picked.load_id, picked.operation_id, picked.compartment_id, picked.application_no) == (
        "L-7f3a9c",
        "L-7f3a9c",
        compartment,
        APPLICATION,
    )
    assert flow.step == PickupStep.OPEN
    flow.door_closed()
    assert flow.step == PickupStep.DONE
    assert _slot(kiosk, compartment).state == State.EMPTY


def test_a_used_code_opens_nothing_the_second_time(kiosk: Kiosk):
    _load_result(kiosk)
    kiosk.node.pickup().enter_code(CODE)
    kiosk.board.pulses.clear()

    with pytest.raises(PickupRefused) as refused:
        kiosk.node.pickup().enter_code(CODE)

    assert refused.value.reason == "wrong"
    assert kiosk.board.pulses == []
    assert len(kiosk.messages(m.ResultPickedUp)) == 1


@pytest.mark.parametrize("typed", ["000000", "48291", "4829130", "abcdef", ""])
def test_wrong_code_never_pulses_any_channel(kiosk: Kiosk, typed: str):
    compartment = _load_result(kiosk)
    kiosk.board.pulses.clear()

    with pytest.raises(PickupRefused) as refused:
        kiosk.node.pickup().enter_code(typed)

    assert refused.value.reason == "wrong"
    assert kiosk.board.pulses == []
    assert kiosk.messages(m.ResultPickedUp) == []
    assert _slot(kiosk, compartment).state == State.HOLDING_RESULT


def test_expired_code_is_refused_as_expired_and_opens_nothing(kiosk: Kiosk):
    compartment = _load_result(kiosk, valid_for=timedelta(days=3))
    kiosk.board.pulses.clear()
    kiosk.clock.advance(days=3)

    with pytest.raises(PickupRefused) as refused:
        kiosk.node.pickup().enter_code(CODE)

    assert refused.value.reason == "expired"
    assert "expired" in str(refused.value)
    assert kiosk.board.pulses == []
    assert _slot(kiosk, compartment).state == State.HOLDING_RESULT


def test_rotated_code_replaces_the_old_one(kiosk: Kiosk):
    compartment = _load_result(kiosk)
    now = kiosk.clock()
    deliver(
        kiosk.node,
        m.SetPickupCode(
            terminal_id=TERMINAL,
            operation_id="L-7f3a9c#2",
            load_id="L-7f3a9c",
            application_no=APPLICATION,
            code_digest=pickup_code.digest(KEY, TERMINAL, "550055"),
            code_expires_at=now + timedelta(days=3),
            expires_at=now + timedelta(hours=1),
        ),
    )
    kiosk.board.pulses.clear()

    with pytest.raises(PickupRefused):
        kiosk.node.pickup().enter_code(CODE)
    assert kiosk.board.pulses == []
    assert kiosk.node.pickup().enter_code("550055").compartment_id == compartment


def test_repeated_wrong_codes_lock_the_keypad_and_queue_an_alarm(kiosk: Kiosk):
    compartment = _load_result(kiosk)
    kiosk.board.pulses.clear()
    reasons = []

    def attempt(code: str) -> PickupRefused:
        with pytest.raises(PickupRefused) as refused:
            kiosk.node.pickup().enter_code(code)
        reasons.append(refused.value.reason)
        return refused.value

    for n in range(4):
        attempt(f"00000{n}")
    locked = attempt("000009")  # the 4th wrong code imposed a delay
    assert locked.reason == "locked_out" and locked.retry_after_s > 0
    # Even the right code is not checked during the lockout.
    assert attempt(CODE).reason == "locked_out"
    kiosk.clock.advance(seconds=locked.retry_after_s)
    attempt("000005")  # the 5th wrong code in a row raises the alarm

    assert reasons == ["wrong"] * 4 + ["locked_out", "locked_out", "wrong"]
    assert kiosk.board.pulses == []
    [alarm] = kiosk.messages(m.Alarm)
    assert alarm.kind == m.AlarmKind.WRONG_CODE_LIMIT
    assert alarm.terminal_id == TERMINAL
    assert CODE not in alarm.encode().decode()
    assert _slot(kiosk, compartment).state == State.HOLDING_RESULT
    assert kiosk.node.telemetry().lockout_remaining_s > 0


def test_withdrawn_result_cannot_be_picked_up(kiosk: Kiosk):
    compartment = _load_result(kiosk)
    now = kiosk.clock()
    ack = deliver(
        kiosk.node,
        m.WithdrawResult(
            terminal_id=TERMINAL,
            operation_id="L-7f3a9c#withdraw",
            load_id="L-7f3a9c",
            application_no=APPLICATION,
            expires_at=now + timedelta(hours=1),
        ),
    )
    assert ack.outcome == m.AckOutcome.DONE
    kiosk.board.pulses.clear()

    with pytest.raises(PickupRefused):
        kiosk.node.pickup().enter_code(CODE)

    assert kiosk.board.pulses == []
    assert _slot(kiosk, compartment).state == State.HOLDING_RESULT


def test_duplicate_load_command_reserves_one_compartment(kiosk: Kiosk):
    command = m.LoadResult(
        terminal_id=TERMINAL,
        operation_id="L-dup",
        load_id="L-dup",
        application_no=APPLICATION,
        expires_at=kiosk.clock() + timedelta(hours=1),
        item_code="SB-0203",
    )

    first = deliver(kiosk.node, command)
    again = deliver(kiosk.node, command)

    assert first.result == again.result
    reserved = [c for c in kiosk.node.locker.compartments() if c.state == State.RESERVED]
    assert [c.id for c in reserved] == [first.result["compartment_id"]]
