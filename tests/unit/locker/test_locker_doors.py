"""Openings are confirmed by the door: sensed doors by their sensor, unsensed ones by a person."""

import pytest

from devices.lock.port import LockFault
from locker.bank import DoorCheck
from locker.compartment import State
from locker.errors import (
    CompartmentOutOfService,
    DoorJammed,
    DoorStillOpen,
    InvalidTransition,
    LockerFault,
    OpeningUnconfirmed,
)
from locker.layout import Size, default_layout

CODE = "11112222"


def slot_of(bank, compartment_id):
    return next(c for c in bank.compartments() if c.id == compartment_id)


def events(rig, compartment_id):
    return [r.event for r in rig.journals[-1].records() if r.compartment_id == compartment_id]


def test_a_sensed_pickup_is_picked_up_once_the_sensor_sees_the_door_open(rig):
    target = rig.load_result("L-1", CODE)
    opened = rig.bank.pickup(CODE)
    assert (opened.door, opened.confirmed) == (DoorCheck.CONFIRMED, True)
    assert rig.board.door(target.spec.channel).openings == 1
    assert slot_of(rig.bank, "A01").state == State.EMPTY
    assert events(rig, "A01")[-2:] == ["opening", "picked_up"]


def test_a_jammed_door_is_pulsed_twice_then_out_of_service_and_never_picked_up(rig):
    rig.load_result("L-1", CODE)
    rig.board.door(1).jam()
    with pytest.raises(DoorJammed, match="staff will contact you") as caught:
        rig.bank.pickup(CODE)
    assert caught.value.holds_contents
    assert rig.board.pulses == [(1, 500), (1, 500)]
    slot = slot_of(rig.bank, "A01")
    # The result is still on record inside the jammed compartment.
    assert (slot.state, slot.load_id, slot.application_no) == (
        State.OUT_OF_SERVICE,
        "L-1",
        "APP-L-1",
    )
    assert "jammed" in (slot.out_of_service_reason or "")
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [("lock_fault", "A01")]
    assert "picked_up" not in events(rig, "A01")
    # The sensor was given the configured time to see the door, twice.
    assert rig.clock.now - 1_700_000_000.0 == pytest.approx(6.0)


def test_the_right_code_for_a_jammed_compartment_says_staff_will_call_and_is_not_a_wrong_code(rig):
    rig.load_result("L-1", CODE)
    rig.board.door(1).jam()
    with pytest.raises(DoorJammed):
        rig.bank.pickup(CODE)
    for _ in range(6):
        with pytest.raises(CompartmentOutOfService, match="will contact you"):
            rig.bank.pickup(CODE)
    assert rig.bank.wrong_code_streak() == 0
    assert len(rig.board.pulses) == 2  # no further pulse on an out-of-service door


def test_a_door_that_opens_on_the_second_pulse_is_a_pickup(rig):
    rig.load_result("L-1", CODE)
    door = rig.board.door(1)
    door.jam()
    original = door.pulse

    def pulse_then_free():  # the first pulse shakes the latch loose
        original()
        door.unjam()

    door.pulse = pulse_then_free
    opened = rig.bank.pickup(CODE)
    assert opened.confirmed and len(rig.board.pulses) == 2
    assert slot_of(rig.bank, "A01").state == State.EMPTY
    assert rig.alarms == []


@pytest.fixture
def unsensed(rig):
    """The same rig, but no compartment has a door sensor."""
    rig.layout = default_layout()
    rig.restart()
    return rig


def test_an_unsensed_pickup_waits_for_the_citizen_before_it_counts(unsensed):
    rig = unsensed
    rig.load_result("L-1", CODE)
    opened = rig.bank.pickup(CODE)
    assert (opened.door, opened.confirmed) == (DoorCheck.UNSENSED, False)
    assert slot_of(rig.bank, "A01").state == State.HOLDING_RESULT
    assert rig.bank.awaiting_answer() == ["A01"]
    with pytest.raises(InvalidTransition, match="say whether"):
        rig.bank.pickup(CODE)  # a second tap does not pulse again
    confirmed = rig.bank.confirm_opening("A01")
    assert confirmed is not None and confirmed.door == DoorCheck.CITIZEN
    assert slot_of(rig.bank, "A01").state == State.EMPTY
    assert rig.board.pulses == [(1, 500)]


def test_an_unsensed_no_pulses_once_more_and_a_second_no_is_out_of_service(unsensed):
    rig = unsensed
    rig.load_result("L-1", CODE)
    rig.bank.pickup(CODE)
    assert rig.bank.report_not_opened("A01") == DoorCheck.UNSENSED
    assert len(rig.board.pulses) == 2
    with pytest.raises(DoorJammed):
        rig.bank.report_not_opened("A01")
    assert len(rig.board.pulses) == 2
    assert slot_of(rig.bank, "A01").state == State.OUT_OF_SERVICE
    assert [a.kind for a in rig.alarms] == ["lock_fault"]
    assert rig.bank.awaiting_answer() == []


def test_nobody_answering_keeps_the_result_and_raises_opening_unconfirmed(unsensed):
    rig = unsensed
    rig.load_result("L-1", CODE)
    rig.bank.pickup(CODE)
    rig.bank.abandon_opening("A01")
    assert slot_of(rig.bank, "A01").state == State.HOLDING_RESULT
    assert [a.kind for a in rig.alarms] == ["opening_unconfirmed"]
    assert rig.bank.pickup(CODE).compartment_id == "A01"  # the citizen may come back


def test_a_deposit_door_that_stays_shut_takes_that_compartment_out_of_service(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.S)
    rig.board.door(slot.spec.channel).jam()
    with pytest.raises(DoorJammed) as caught:
        rig.bank.open(slot.id, reason="deposit")
    assert not caught.value.holds_contents
    assert slot_of(rig.bank, slot.id).state == State.OUT_OF_SERVICE
    # The next reservation skips it.
    assert rig.bank.reserve_for_deposit("APP-2", Size.S).id != slot.id


def test_open_reports_how_the_door_was_confirmed_and_journals_the_reason(rig):
    assert rig.bank.open("A03", reason="technician open") == DoorCheck.CONFIRMED
    [record] = [r for r in rig.journals[-1].records() if r.event == "door_pulsed"]
    assert record.body == {
        "board": "main",
        "channel": 3,
        "reason": "technician open",
        "door": "confirmed",
    }


def test_a_board_that_fails_after_pulsing_counts_when_the_sensor_saw_the_door_open(rig):
    rig.load_result("L-1", CODE)
    original = rig.board.unlock

    def pulse_then_lose_the_answer(channel, pulse_ms):
        rig.board.door(channel).pulse()
        rig.board.unplug()
        try:
            original(channel, pulse_ms)
        finally:
            rig.board.plug()  # the sensor read afterwards gets through

    rig.board.unlock = pulse_then_lose_the_answer
    opened = rig.bank.pickup(CODE)
    assert opened.confirmed
    assert slot_of(rig.bank, "A01").state == State.EMPTY
    assert [a.kind for a in rig.alarms] == ["lock_fault"]


def test_an_unplugged_board_keeps_the_result_and_the_supervisor_reports_it_once(rig):
    rig.load_result("L-1", CODE)
    rig.board.unplug()  # its door inputs go with it: nothing says whether the door opened
    with pytest.raises(OpeningUnconfirmed):
        rig.bank.pickup(CODE)
    assert [a.kind for a in rig.alarms] == ["lock_fault", "opening_unconfirmed"]
    rig.bank.doors.poll()
    rig.bank.doors.poll()
    assert slot_of(rig.bank, "A01").state == State.HOLDING_RESULT
    assert [a.kind for a in rig.alarms] == ["lock_fault", "opening_unconfirmed", "device_fault"]


def test_a_board_lost_on_the_second_pulse_after_a_no_leaves_the_pickup_unconfirmed(unsensed):
    """The first pulse opened the door; "No, it did not open", and the cable is pulled so the
    second pulse fails. That failure erased the opening: the result looked untouched."""
    rig = unsensed
    rig.load_result("L-1", CODE)
    rig.bank.pickup(CODE)
    rig.board.unplug()
    with pytest.raises(OpeningUnconfirmed, match="A01 may have opened"):
        rig.bank.report_not_opened("A01")
    assert slot_of(rig.bank, "A01").state == State.HOLDING_RESULT
    assert rig.bank.unconfirmed_openings() == ["A01"]
    assert rig.bank.awaiting_answer() == []
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [
        ("lock_fault", "A01"),
        ("opening_unconfirmed", "A01"),
    ]
    rig.board.plug()
    rig.restart()  # the journal still holds the opening: staff are told again at boot
    assert rig.bank.unconfirmed_openings() == ["A01"]
    assert [a.kind for a in rig.alarms][-1] == "opening_unconfirmed"


def pulse_then_pull_the_cable(rig):
    """The board pulses the lock, then loses its cable before it answers; its door inputs too."""
    original = rig.board.unlock

    def unlock(channel, pulse_ms):
        rig.board.door(channel).pulse()
        rig.board.unplug()
        original(channel, pulse_ms)

    rig.board.unlock = unlock
    return original


def test_a_board_lost_after_pulsing_a_sensed_door_leaves_the_pickup_unconfirmed(rig):
    rig.load_result("L-1", CODE)
    original = pulse_then_pull_the_cable(rig)
    with pytest.raises(OpeningUnconfirmed):
        rig.bank.pickup(CODE)
    assert rig.board.door(1).is_open
    assert slot_of(rig.bank, "A01").state == State.HOLDING_RESULT
    assert rig.bank.unconfirmed_openings() == ["A01"]
    assert [a.kind for a in rig.alarms] == ["lock_fault", "opening_unconfirmed"]
    rig.board.unlock = original
    rig.board.plug()
    rig.restart()  # the door reads open after the pulse: the pickup happened
    assert slot_of(rig.bank, "A01").state == State.EMPTY
    assert rig.bank.unconfirmed_openings() == []


def test_a_failure_with_the_door_seen_shut_keeps_an_earlier_unconfirmed_opening(rig):
    rig.load_result("L-1", CODE)
    pulse_then_pull_the_cable(rig)
    with pytest.raises(OpeningUnconfirmed):
        rig.bank.pickup(CODE)
    rig.board.door(1).close()  # whoever stood there shut it again
    rig.board.plug()

    def refuse(channel, pulse_ms):  # the lock output refuses; the door inputs answer
        raise LockFault("relay driver refused")

    rig.board.unlock = refuse
    start = rig.clock.now
    with pytest.raises(LockerFault, match="Nothing has been lost") as caught:
        rig.bank.pickup(CODE)
    assert not isinstance(caught.value, OpeningUnconfirmed)
    assert rig.clock.now - start == pytest.approx(3.0)  # the door had time to open
    assert rig.bank.unconfirmed_openings() == ["A01"]  # the first opening is still in doubt


def test_a_result_is_not_taken_as_loaded_while_its_door_reads_open(rig):
    """Staff confirming the load with the door ajar: the code would go out by SMS with the
    result free to take. Refused until the sensor reads it shut, and journalled."""
    rig.bank.reserve_for_result("L-1", "APP-L-1", Size.S)
    slot = rig.bank.open("A01", reason="staff load")
    assert slot == DoorCheck.CONFIRMED
    start = rig.clock.now

    with pytest.raises(DoorStillOpen, match="A01 is still open"):
        rig.bank.confirm_result_loaded("L-1")

    assert rig.clock.now - start == pytest.approx(5.0)  # close_confirm_s, polled
    assert slot_of(rig.bank, "A01").state == State.RESERVED
    assert events(rig, "A01")[-1] == "door_still_open"
    rig.board.door(1).close()
    assert rig.bank.confirm_result_loaded("L-1").state == State.HOLDING_RESULT
    assert rig.board.door(1).openings == 1  # nothing pulsed it again


def test_a_deposit_door_shut_while_the_bank_waits_is_taken_at_once(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.S)
    rig.bank.open(slot.id)
    door = rig.board.door(slot.spec.channel)
    waited = []

    def shut_on_the_second_look(seconds: float) -> None:
        waited.append(seconds)
        rig.clock.advance(seconds)
        door.close()

    rig.bank.doors._sleep = shut_on_the_second_look

    assert rig.bank.confirm_deposit(slot.id).state == State.HOLDING_DEPOSIT
    assert len(waited) == 1


def test_a_door_whose_sensor_does_not_answer_is_taken_shut_on_the_persons_word(rig):
    rig.bank.reserve_for_result("L-1", "APP-L-1", Size.S)
    rig.bank.open("A01", reason="staff load")
    rig.board.unplug()  # the sensor board does not answer: nothing to check against

    assert rig.bank.confirm_result_loaded("L-1").state == State.HOLDING_RESULT
